"""PostgreSQL through logical replication (pgoutput): snapshot, streaming, incremental snapshots, reconciliation."""
