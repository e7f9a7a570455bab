"""The section of a postgres_cdc source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from seamline.connectors.sections import SourceSection


class PostgresCdcSource(SourceSection):
    """A PostgreSQL database captured through logical replication (pgoutput)."""

    kind: Literal["postgres_cdc"]
    dsn: SecretStr = Field(description="libpq connection string of a role with the REPLICATION attribute.")
    system: str = Field(description="Name of the source system in topics and xrefs, e.g. 'erp'.")
    tables: list[str] = Field(min_length=1, description="Tables to capture, 'table' or 'schema.table'.")
    slot: str = Field(
        pattern=r"^[a-z0-9_]{1,63}$", description="Logical replication slot name (created if missing): a-z, 0-9, _."
    )
    publication: str = Field(
        description="Publication name; created for the tables (and the signal table) if missing, extended if one is."
    )
    signal_table: str = Field(
        "seamline_signal",
        min_length=1,
        description="Table ('table' or 'schema.table', created if missing) through which incremental snapshots "
        "are requested (`seamline source snapshot`) and windowed; it is part of the publication, never published.",
    )
    snapshot_chunk_size: int = Field(1024, ge=1, description="Rows per chunk of an incremental snapshot.")
    heartbeat_interval_s: float = Field(
        10.0,
        gt=0,
        description="When the captured tables are idle, confirm the server's WAL position this often, so the "
        "replication slot does not hold back WAL written for other tables or databases.",
    )

    def topic_objects(self) -> list[str]:
        """One object per captured table, named as the table."""
        return [table.rpartition(".")[2] for table in self.tables]
