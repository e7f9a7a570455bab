"""PostgreSQL column types as Avro types, and their text values as the Python values of those Avro types.

Both the snapshot (columns selected as text) and the replication stream (pgoutput text tuples) go
through the same loaders, so a row reads the same whichever way it was captured. Text parsing is
psycopg's own (arrays, numeric, timestamps, bytea), run in the session settings of SESSION_OPTIONS.

| PostgreSQL                    | Avro                                            |
| ----------------------------- | ----------------------------------------------- |
| boolean                       | boolean                                         |
| smallint, integer             | int                                             |
| bigint, oid                   | long                                            |
| real / double precision       | float / double                                  |
| numeric(p, s)                 | bytes, logicalType decimal (precision p, scale s) |
| numeric (no precision)        | string (the exact digits)                       |
| date                          | int, logicalType date                           |
| time                          | long, logicalType time-micros                   |
| timestamp                     | long, logicalType local-timestamp-micros        |
| timestamptz                   | long, logicalType timestamp-micros (UTC)        |
| uuid                          | string, logicalType uuid                        |
| json, jsonb                   | string (the JSON text), property pg.type        |
| bytea                         | bytes                                           |
| enum types                    | string, property pg.enum listing the labels     |
| arrays of any of these        | array of nullable items                         |
| domains                       | their base type                                 |
| anything else (interval, …)   | string (PostgreSQL's text form)                 |

Values Avro cannot hold become None with a warning naming the column: numeric NaN / ±Infinity in a
decimal column. Dates and timestamps of ±infinity become the largest / smallest value Python holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Loader, Transformer
from psycopg.pq import Format

log = logging.getLogger(__name__)

SESSION_OPTIONS = "-c datestyle=ISO,YMD -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3"
"""libpq `options` for every connection whose text output seamline parses."""

Load = Callable[[bytes], Any]

_TEXT_ARRAY_OID = 1009
_SIMPLE: dict[str, Any] = {
    "bool": "boolean",
    "int2": "int",
    "int4": "int",
    "int8": "long",
    "oid": "long",
    "float4": "float",
    "float8": "double",
    "date": {"type": "int", "logicalType": "date"},
    "time": {"type": "long", "logicalType": "time-micros"},
    "timestamp": {"type": "long", "logicalType": "local-timestamp-micros"},
    "timestamptz": {"type": "long", "logicalType": "timestamp-micros"},
    "uuid": {"type": "string", "logicalType": "uuid"},
    "json": {"type": "string", "pg.type": "json"},
    "jsonb": {"type": "string", "pg.type": "jsonb"},
    "bytea": "bytes",
}
_PARSED = {
    "bool",
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "bytea",
}
_INFINITY: dict[str, tuple[Any, Any]] = {
    "date": (date.max, date.min),
    "timestamp": (datetime.max, datetime.min),
    "timestamptz": (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)),
}


@dataclass(frozen=True)
class ColumnType:
    """How one column is written in Avro and how its text value is read."""

    avro: Any
    load: Load


def _text(data: bytes) -> str:
    return data.decode()


class _Verbatim(Loader):
    def load(self, data: Any) -> bytes:
        return bytes(data)


def read_as_text(cursor: psycopg.Cursor[Any], type_oids: Iterable[int]) -> None:
    """Make `cursor` return these types' values as their text bytes, exactly as pgoutput sends them."""
    for oid in set(type_oids):
        cursor.adapters.register_loader(oid, _Verbatim)


class PgTypes:
    """Resolves type OIDs (with typmod) through the catalog of one database; caches what it learns."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._transformer = Transformer(conn)
        self._cache: dict[tuple[int, int], ColumnType] = {}

    def column(self, type_oid: int, typmod: int, where: str) -> ColumnType:
        """The Avro type and loader of a column of type `type_oid`; `where` names it in warnings."""
        cached = self._cache.get((type_oid, typmod))
        if cached is None:
            cached = self._cache[(type_oid, typmod)] = self._resolve(type_oid, typmod, where)
        return cached

    def _resolve(self, type_oid: int, typmod: int, where: str) -> ColumnType:
        row = self._conn.execute(
            """
            SELECT t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typtypmod,
                   array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
            FROM pg_type t WHERE t.oid = %s
            """,
            (type_oid,),
        ).fetchone()
        if row is None:
            return ColumnType("string", _text)
        name, kind, category, element, base, base_typmod, labels = row
        if kind == "d":
            return self.column(base, base_typmod, where)
        if kind == "e":
            return ColumnType({"type": "string", "pg.enum": list(labels)}, _text)
        if category == "A" and element:
            return self._array(self.column(element, typmod, where))
        if name == "numeric":
            return self._numeric(typmod, where)
        if name in _SIMPLE:
            load = self._parser(type_oid, name, where) if name in _PARSED else _text
            return ColumnType(_SIMPLE[name], load)
        return ColumnType("string", _text)

    def _parser(self, type_oid: int, name: str, where: str) -> Load:
        parse = self._transformer.get_loader(type_oid, Format.TEXT).load
        infinity = _INFINITY.get(name)
        if infinity is None:
            return parse
        highest, lowest = infinity

        def load(data: bytes) -> Any:
            if data == b"infinity":
                return highest
            if data == b"-infinity":
                return lowest
            return parse(data)

        return load

    def _array(self, item: ColumnType) -> ColumnType:
        parse = self._transformer.get_loader(_TEXT_ARRAY_OID, Format.TEXT).load
        load_item = item.load

        def load(data: bytes) -> list[Any]:
            return [None if value is None else load_item(value.encode()) for value in parse(data)]

        return ColumnType({"type": "array", "items": ["null", item.avro]}, load)

    @staticmethod
    def _numeric(typmod: int, where: str) -> ColumnType:
        if typmod < 4:
            return ColumnType("string", _text)
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if scale > precision:  # PostgreSQL 15+ allows a negative scale, stored as a large unsigned value
            return ColumnType("string", _text)

        def load(data: bytes) -> Decimal | None:
            value = Decimal(data.decode())
            if value.is_finite():
                return value
            log.warning("%s: numeric %s has no Avro decimal form; published as null", where, data.decode())
            return None

        return ColumnType({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}, load)
