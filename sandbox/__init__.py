"""Sandbox: sample source systems used by the demo and the tests."""
