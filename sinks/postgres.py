"""PostgreSQL target: batched upserts guarded by version, deletes that older versions cannot undo.

Delivery: exactly-once effect. A row changes only for a newer version; a delete is remembered
in seamline_tombstones with its version, so a re-delivered older version cannot bring the row back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from seamline.config import PostgresSink
from seamline.retry import is_transient
from seamline.schemas import schema_text
from sinks.sink import Outcome, Rejected, Sink, SinkRecord

TOMBSTONES = "seamline_tombstones"
_SQL_TYPES = {"string": "text", "long": "bigint", "int": "integer", "boolean": "boolean", "double": "double precision"}
_SKIPPED = {"deleted"}


@dataclass(frozen=True)
class _Column:
    name: str
    sql_type: str
    to_sql: Any  # converts the Avro value to a query parameter
    placeholder: str = "%s::{}"  # how the parameter becomes the column's type


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _column(name: str, avro: Any) -> _Column:
    """The target column of one canonical field."""
    base = next(t for t in avro if t != "null") if isinstance(avro, list) else avro
    logical = base.get("logicalType") if isinstance(base, dict) else None
    if name == "updated_at":
        return _Column(name, "timestamptz", lambda ms: None if ms is None else ms / 1000, "to_timestamp(%s)")
    if logical == "decimal":
        return _Column(name, f"numeric({base['precision']},{base['scale']})", lambda v: v)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return _Column(name, "timestamptz", lambda v: v)
    if isinstance(base, dict) and base.get("type") in ("map", "array", "record"):
        return _Column(name, "jsonb", _json)
    return _Column(name, _SQL_TYPES[base], lambda v: v)


def _columns(entity: str) -> list[_Column]:
    """Target columns from the entity's Avro schema: the reverse mapping is field = column."""
    fields = json.loads(schema_text(entity))["fields"]
    return [_column(field["name"], field["type"]) for field in fields if field["name"] not in _SKIPPED]


class PostgresTarget(Sink):
    """Writes canonical entities into tables of one PostgreSQL database (created if missing)."""

    def __init__(self, config: PostgresSink) -> None:
        self.config = config
        self._conn: psycopg.Connection | None = None
        self._tables: dict[str, str] = {entity: table for entity, table in config.tables.items()}
        self._columns = {entity: _columns(entity) for entity in self._tables}

    def setup(self) -> None:
        self._conn = psycopg.connect(self.config.dsn.get_secret_value())
        with self._conn.transaction():
            self._conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (entity text NOT NULL, id text NOT NULL, "
                    "version bigint NOT NULL, deleted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (entity, id))"
                ).format(sql.Identifier(TOMBSTONES))
            )
            for entity, table in self._tables.items():
                definitions = [
                    sql.SQL("{} {}{}").format(
                        sql.Identifier(c.name),
                        sql.SQL(c.sql_type),
                        sql.SQL(" PRIMARY KEY" if c.name == "id" else ""),
                    )
                    for c in self._columns[entity]
                ]
                definitions.append(sql.SQL("synced_at timestamptz NOT NULL DEFAULT now()"))
                self._conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                        sql.Identifier(table), sql.SQL(", ").join(definitions)
                    )
                )

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        assert self._conn is not None, "setup() first"
        try:
            with self._conn.transaction():
                self._write_all(records)
            return Outcome()
        except psycopg.Error as exc:
            if is_transient(exc):
                raise
        return Outcome(rejected=self._write_one_by_one(records))

    def _write_one_by_one(self, records: Sequence[SinkRecord]) -> list[Rejected]:
        """Isolate the records the database refuses, each in its own savepoint."""
        assert self._conn is not None
        rejected = []
        with self._conn.transaction():
            for record in records:
                try:
                    with self._conn.transaction():
                        self._write_all([record])
                except psycopg.Error as exc:
                    if is_transient(exc):
                        raise
                    reason = (exc.diag.message_primary or str(exc)).strip()
                    rejected.append(Rejected(record, f"{self._tables[record.entity]}: {reason}", type(exc).__name__))
        return rejected

    def _write_all(self, records: Sequence[SinkRecord]) -> None:
        assert self._conn is not None
        with self._conn.cursor() as cursor:
            for entity, table in self._tables.items():
                ours = [r for r in records if r.entity == entity]
                upserts = [r.value for r in ours if r.value is not None and not r.value["deleted"]]
                deletes = [r for r in ours if r.value is None or r.value["deleted"]]
                if upserts:
                    cursor.executemany(
                        self._upsert_sql(entity, table), [self._upsert_params(entity, v) for v in upserts]
                    )
                for record in deletes:
                    self._delete(cursor, entity, table, record)

    def _upsert_sql(self, entity: str, table: str) -> sql.Composed:
        columns = self._columns[entity]
        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        values = sql.SQL(", ").join(sql.SQL(c.placeholder).format(sql.SQL(c.sql_type)) for c in columns)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in columns if c.name != "id"
        )
        return sql.SQL(
            "INSERT INTO {table} AS current ({names}, synced_at) SELECT {values}, now() "
            "WHERE NOT EXISTS (SELECT 1 FROM {tombstones} t WHERE t.entity = %s AND t.id = %s AND t.version >= %s) "
            "ON CONFLICT (id) DO UPDATE SET {updates}, synced_at = now() WHERE current.version < EXCLUDED.version"
        ).format(
            table=sql.Identifier(table),
            names=names,
            values=values,
            tombstones=sql.Identifier(TOMBSTONES),
            updates=updates,
        )

    def _upsert_params(self, entity: str, value: dict[str, Any]) -> list[Any]:
        params = [c.to_sql(value.get(c.name)) for c in self._columns[entity]]
        return [*params, entity, value["id"], value["version"]]

    def _delete(self, cursor: psycopg.Cursor, entity: str, table: str, record: SinkRecord) -> None:
        if record.value is None:
            # A tombstone follows the final deleted version; a newer version written since keeps its row.
            cursor.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE id = %s AND version <= COALESCE("
                    "(SELECT version FROM {} WHERE entity = %s AND id = %s), 9223372036854775807)"
                ).format(sql.Identifier(table), sql.Identifier(TOMBSTONES)),
                (record.id, entity, record.id),
            )
            return
        version = record.value["version"]
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (entity, id, version) VALUES (%s, %s, %s) "
                "ON CONFLICT (entity, id) DO UPDATE "
                "SET version = GREATEST({}.version, EXCLUDED.version), deleted_at = now()"
            ).format(sql.Identifier(TOMBSTONES), sql.Identifier(TOMBSTONES)),
            (entity, record.id, version),
        )
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE id = %s AND version <= %s").format(sql.Identifier(table)),
            (record.id, version),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
