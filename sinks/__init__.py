"""Sinks: write canonical entities into target systems, idempotently."""
