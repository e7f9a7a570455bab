"""The section of a postgres sink."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from seamline.connectors.sections import SinkSection
from seamline.processor_config import Entity


class PostgresSink(SinkSection):
    """A PostgreSQL target: batched upserts guarded by version."""

    kind: Literal["postgres"]
    dsn: SecretStr = Field(description="libpq connection string of the target database.")
    tables: dict[Entity, str] = Field(description="canonical entity -> target table name.")
    write_path: Literal["copy", "executemany"] = Field(
        "copy",
        description="How a batch is written: 'copy' (COPY into a staging table, then one merge) or 'executemany' "
        "(one upsert per record, pipelined); bench/postgres_sink_bench.py compares them.",
    )
    audit: bool = Field(
        False,
        description="Also record every applied change as (entity, id, version, op) in seamline_audit, in the same "
        "transaction: proof that each version took effect once, in order (tests/chaos reads it).",
    )

    @property
    def entities_written(self) -> list[Entity]:
        """The entities that have a table."""
        return list(self.tables)
