"""A PostgreSQL target: version-guarded batched upserts, deletes, reconciliation."""
