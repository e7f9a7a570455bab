"""The PostgreSQL tables of the canonical entities, derived from their Avro schemas, created and evolved.

Each entity gets a table whose columns are its fields (typed: numeric, timestamptz, jsonb for maps and
arrays of strings) plus `synced_at`. A field that is an array of records (a sales order's `lines`) becomes
a child table `<table>_<field>` keyed by (`<entity>_id`, the record's first field), whose rows are deleted
with their parent. When a schema gains a field, `ensure` adds the column: nothing else is ever altered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from seamline.schemas import schema_text

_SQL_TYPES = {"string": "text", "long": "bigint", "int": "integer", "boolean": "boolean", "double": "double precision"}
_SKIPPED = {"deleted"}  # a deleted version removes the row; it is never stored


@dataclass(frozen=True)
class Column:
    """A target column: its canonical field, SQL type and the conversion of the Avro value (None: as it is)."""

    name: str
    sql_type: str
    to_sql: Callable[[Any], Any] | None = None

    def value(self, record: dict[str, Any]) -> Any:
        """The column's query parameter for a canonical record (or order line)."""
        value = record.get(self.name)
        return value if self.to_sql is None or value is None else self.to_sql(value)


@dataclass(frozen=True)
class ChildTable:
    """The rows of an array-of-records field: `parent` names the parent's id column, `key` the row's key."""

    field: str
    name: str
    parent: str
    columns: list[Column]

    @property
    def key(self) -> str:
        return self.columns[0].name


@dataclass(frozen=True)
class EntityTable:
    """An entity's table and its child tables."""

    entity: str
    name: str
    columns: list[Column]
    children: list[ChildTable]

    def row(self, value: dict[str, Any]) -> list[Any]:
        """The column values of a canonical record, in column order."""
        return [column.value(value) for column in self.columns]

    def child_rows(self, child: ChildTable, value: dict[str, Any]) -> list[list[Any]]:
        """The rows of one child table for a canonical record: the parent id first."""
        return [
            [value["id"], *(column.value(item) for column in child.columns)] for item in value.get(child.field) or []
        ]


_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _base(avro: Any) -> Any:
    return next(t for t in avro if t != "null") if isinstance(avro, list) else avro


def _column(name: str, avro: Any) -> Column:
    base = _base(avro)
    logical = base.get("logicalType") if isinstance(base, dict) else None
    if name == "updated_at":
        return Column(name, "timestamptz", _millis)
    if logical == "decimal":
        return Column(name, f"numeric({base['precision']},{base['scale']})")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return Column(name, "timestamptz")
    if isinstance(base, dict) and base.get("type") in ("map", "array", "record"):
        return Column(name, "jsonb", _json)
    return Column(name, _SQL_TYPES[base])


def _record_items(avro: Any) -> dict[str, Any] | None:
    base = _base(avro)
    if isinstance(base, dict) and base.get("type") == "array" and isinstance(base["items"], dict):
        items = base["items"]
        return items if items.get("type") == "record" else None
    return None


def entity_table(entity: str, name: str) -> EntityTable:
    """The table of `entity` named `name`, from the entity's Avro schema."""
    columns, children = [], []
    for field in json.loads(schema_text(entity))["fields"]:
        if field["name"] in _SKIPPED:
            continue
        items = _record_items(field["type"])
        if items is None:
            columns.append(_column(field["name"], field["type"]))
        else:
            item_columns = [_column(f["name"], f["type"]) for f in items["fields"]]
            children.append(ChildTable(field["name"], f"{name}_{field['name']}", f"{entity}_id", item_columns))
    return EntityTable(entity, name, columns, children)


def ensure(conn: psycopg.Connection, table: EntityTable) -> list[str]:
    """Create the entity's tables, or add the columns its schema gained; the columns added."""
    definitions: list[sql.Composable] = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.sql_type), sql.SQL(" PRIMARY KEY" if c.name == "id" else "")
        )
        for c in table.columns
    ]
    definitions.append(sql.SQL("synced_at timestamptz NOT NULL DEFAULT now()"))
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            sql.Identifier(table.name), sql.SQL(", ").join(definitions)
        )
    )
    added = _add_missing(conn, table.name, table.columns)
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS synced_at timestamptz NOT NULL DEFAULT now()").format(
            sql.Identifier(table.name)
        )
    )
    for child in table.children:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {child} ({parent} text NOT NULL REFERENCES {table} (id) ON DELETE CASCADE, "
                "{columns}, PRIMARY KEY ({parent}, {key}))"
            ).format(
                child=sql.Identifier(child.name),
                parent=sql.Identifier(child.parent),
                table=sql.Identifier(table.name),
                columns=sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in child.columns
                ),
                key=sql.Identifier(child.key),
            )
        )
        added += _add_missing(conn, child.name, child.columns)
    return added


def _add_missing(conn: psycopg.Connection, name: str, columns: list[Column]) -> list[str]:
    present = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s",
            (name,),
        )
    }
    added = []
    for column in columns:
        if column.name not in present:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    sql.Identifier(name), sql.Identifier(column.name), sql.SQL(column.sql_type)
                )
            )
            added.append(f"{name}.{column.name}")
    return added
