"""Reconciliation of a postgres_cdc source with the canonical state: is every row of each mapped table linked by a
live golden record, and does every link to the table name a row it still has?

Field values are not compared: survivorship may rightly prefer another system's value. Rows the processor sent
to a dead-letter queue are reported missing, which they are (`seamline dlq list` says why).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from producers.postgres_cdc.config import PostgresCdcSource
from seamline.canonical_state import canonical_live
from seamline.config import KafkaConfig
from seamline.events import format_key
from seamline.metrics import Metrics
from seamline.misalignment import Misalignment, Report
from seamline.pii import FieldCipher
from seamline.processor_config import EntityMapping, ProcessorConfig


class SourceReconciliation:
    """Compares the tables of one postgres_cdc source with the links of the live golden records."""

    def __init__(
        self, name: str, kafka: KafkaConfig, source: PostgresCdcSource, processor: ProcessorConfig, metrics: Metrics
    ) -> None:
        self.name = name
        self.kafka = kafka
        self.source = source
        self.metrics = metrics
        tables = {table.rpartition(".")[2]: table for table in source.tables}
        self.tables: list[tuple[str, EntityMapping]] = [
            (tables[obj], mapping)
            for mapping in processor.mappings
            if mapping.line_of is None
            for system, _, obj in [mapping.source.partition(".")]
            if system == source.system and obj in tables
        ]

    def check(self) -> Report:
        """Every source row no live golden record links (missing), and every link to a row gone (extra)."""
        found: list[Misalignment] = []
        compared = 0
        with psycopg.connect(self.source.dsn.get_secret_value()) as conn:
            for table, mapping in self.tables:
                held = {f"{mapping.source}:{key}" for key in _keys(conn, table)}
                prefix = f"{mapping.source}:"
                linked = {
                    link
                    for record in canonical_live(self.kafka, mapping.entity, FieldCipher.disabled())  # links only
                    for link in record["links"]
                    if link.startswith(prefix)
                }
                compared += len(held)
                found += [Misalignment(mapping.entity, ref, "missing", {}) for ref in sorted(held - linked)]
                found += [Misalignment(mapping.entity, ref, "extra", {}) for ref in sorted(linked - held)]
        report = Report(found, compared)
        counts = report.counts()
        for _, mapping in self.tables:
            for kind in ("missing", "extra"):
                gauge = self.metrics.reconcile_misaligned.labels(f"source.{self.name}", mapping.entity, kind)
                gauge.set(counts[(mapping.entity, kind)])
        return report


def _keys(conn: psycopg.Connection, table: str) -> list[str]:
    """Each row's key as its change events carry it: the primary key's text, 'col=value;…' when composite."""
    columns = [
        row[0]
        for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
            (table,),
        )
    ]
    selected = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(column)) for column in columns)
    rows = conn.execute(sql.SQL("SELECT {} FROM {}").format(selected, sql.Identifier(*table.split("."))))
    return [format_key(dict(zip(columns, row, strict=True))) for row in rows]
