"""Reconciliation of a postgres_cdc source with the canonical state: is every row of each mapped table linked by a
live golden record, and does every link to the table name a row it still has?

Field values are not compared: survivorship may rightly prefer another system's value. Rows the processor sent
to a dead-letter queue are reported missing, which they are (`seamline dlq list` says why). A repair publishes a
delete for every extra link: rows removed while the stream could not see it (a replication slot lost, a new
snapshot) leave the golden records and the targets too.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from producers.postgres_cdc.config import PostgresCdcSource
from producers.postgres_cdc.source import CONNECTOR
from seamline.canonical_state import canonical_live
from seamline.config import KafkaConfig
from seamline.events import Change, format_key
from seamline.metrics import Metrics
from seamline.misalignment import Misalignment, Report
from seamline.pii import FieldCipher
from seamline.processor_config import EntityMapping, ProcessorConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topics import source_topic


class SourceReconciliation:
    """Compares the tables of one postgres_cdc source with the links of the live golden records."""

    def __init__(
        self,
        name: str,
        kafka: KafkaConfig,
        source: PostgresCdcSource,
        processor: ProcessorConfig,
        metrics: Metrics,
        only: str | None = None,
    ) -> None:
        """`only`: compare this one table ('table' or 'schema.table') of the source, not all of them."""
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
            if system == source.system and obj in tables and (only is None or only.rpartition(".")[2] == obj)
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

    def repair(self, report: Report) -> int:
        """Publish a delete event for each extra link (a row the table no longer has) to the table's source topic,
        positioned at the server's current WAL position, so it orders after every change already captured; the
        processor deletes or unlinks the row's golden record as the row's own delete would. Returns how many."""
        extras = [found for found in report.misalignments if found.kind == "extra"]
        if not extras:
            return 0
        with psycopg.connect(self.source.dsn.get_secret_value()) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None, "a SELECT without FROM returns one row"
            columns = {mapping.source: _key_columns(conn, table) for table, mapping in self.tables}
        serde, publisher = AvroSerde(self.kafka), Publisher(self.kafka)
        now_ms = int(time.time() * 1000)
        try:
            for found in extras:
                source, _, key = found.id.partition(":")
                system, _, obj = source.partition(".")
                topic = source_topic(self.kafka, system, obj)
                deleted = Change(
                    system=system,
                    object=obj,
                    connector=CONNECTOR,
                    op="d",
                    key=parse_key(columns[source], key),
                    before=None,
                    after=None,
                    position=f"{row[0]}:0",
                    source_ts_ms=now_ms,
                )
                value = serde.encode(topic, deleted.envelope(), schema=serde.latest_schema(topic))
                publisher.send(topic, value, key=serde.encode(topic, {"columns": deleted.key}, key=True))
            publisher.flush()
        finally:
            publisher.close()
        return len(extras)


def _key_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The primary key's columns, in key order."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
            (table,),
        )
    ]


def parse_key(columns: list[str], text: str) -> dict[str, str]:
    """The key columns of a key `format_key` wrote."""
    if len(columns) == 1:
        return {columns[0]: text}
    return dict(part.split("=", 1) for part in text.split(";"))


def _keys(conn: psycopg.Connection, table: str) -> list[str]:
    """Each row's key as its change events carry it: the primary key's text, 'col=value;…' when composite."""
    columns = _key_columns(conn, table)
    selected = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(column)) for column in columns)
    rows = conn.execute(sql.SQL("SELECT {} FROM {}").format(selected, sql.Identifier(*table.split("."))))
    return [format_key(dict(zip(columns, row, strict=True))) for row in rows]
