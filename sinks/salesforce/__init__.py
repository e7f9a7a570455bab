"""A Salesforce org: upserts by external id through sObject Collections."""
