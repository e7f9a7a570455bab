"""Salesforce objects through SOQL on (SystemModstamp, Id), deletes through queryAll."""
