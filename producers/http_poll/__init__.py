"""Cursor- or time-based incremental REST exports (Zendesk built in)."""
