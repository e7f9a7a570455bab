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

Dates and timestamps of ±infinity become the largest / smallest value Python holds. A value its Avro type
cannot carry to every reader (a date or timestamp BC or after 9999, a time of 24:00:00, NaN in a decimal, an
array of several dimensions) raises Unrepresentable, which says why and what to do without quoting the value;
the source sends that change to its DLQ. docs/sources.md has the table of edge values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Loader, Transformer
from psycopg.pq import Format

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
_BEYOND_PYTHON = (
    "which Python consumers (the processor among them) cannot read from an Avro {}: set it within years 1 to 9999 in "
    "the source, or ALTER the column to text to publish PostgreSQL's text form"
)
_OUT_OF_RANGE = {
    "date": "is a date BC or after year 9999, " + _BEYOND_PYTHON.format("date"),
    "timestamp": "is a timestamp BC or after year 9999, " + _BEYOND_PYTHON.format("local-timestamp-micros"),
    "timestamptz": "is a timestamp BC or after year 9999 in UTC, " + _BEYOND_PYTHON.format("timestamp-micros"),
    "time": (
        "is the end of a day (hour 24), which an Avro time-micros cannot hold: store 23:59:59.999999 or 00:00:00 "
        "instead, or ALTER the column to text to publish PostgreSQL's text form"
    ),
}
_NAN = (
    "is NaN, which an Avro decimal cannot hold (and null would mean NULL): set a number or NULL, or ALTER the column "
    "to numeric without a precision, published as its text ('NaN' included)"
)
_NESTED = (
    "is an array of more than one dimension, and the Avro column is an array of one: store one dimension, or ALTER "
    "the column to jsonb or text"
)


class Unrepresentable(ValueError):
    """A value its column's Avro type cannot hold. The message says what kind of value it is and what to do, never
    the value itself: values are never logged."""


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

    def column(self, type_oid: int, typmod: int) -> ColumnType:
        """The Avro type and loader of a column of type `type_oid`."""
        cached = self._cache.get((type_oid, typmod))
        if cached is None:
            cached = self._cache[(type_oid, typmod)] = self._resolve(type_oid, typmod)
        return cached

    def _resolve(self, type_oid: int, typmod: int) -> ColumnType:
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
            return self.column(base, base_typmod)
        if kind == "e":
            return ColumnType({"type": "string", "pg.enum": list(labels)}, _text)
        if category == "A" and element:
            return self._array(self.column(element, typmod))
        if name == "numeric":
            return self._numeric(typmod)
        if name in _SIMPLE:
            load = self._parser(type_oid, name) if name in _PARSED else _text
            return ColumnType(_SIMPLE[name], load)
        return ColumnType("string", _text)

    def _parser(self, type_oid: int, name: str) -> Load:
        parse = self._transformer.get_loader(type_oid, Format.TEXT).load
        out_of_range = _OUT_OF_RANGE.get(name)
        if out_of_range is None:
            return parse
        highest, lowest = _INFINITY.get(name, (None, None))

        def load(data: bytes) -> Any:
            if data == b"infinity" and highest is not None:
                return highest
            if data == b"-infinity" and lowest is not None:
                return lowest
            try:
                return parse(data)
            except psycopg.DataError:  # psycopg's message quotes the value
                raise Unrepresentable(out_of_range) from None

        return load

    def _array(self, item: ColumnType) -> ColumnType:
        parse = self._transformer.get_loader(_TEXT_ARRAY_OID, Format.TEXT).load
        load_item = item.load

        def load_element(value: str | list[Any] | None) -> Any:
            if isinstance(value, list):
                raise Unrepresentable(_NESTED)
            try:
                return None if value is None else load_item(value.encode())
            except Unrepresentable as exc:
                raise Unrepresentable(f"has an element that {exc}") from None

        def load(data: bytes) -> list[Any]:
            return [load_element(value) for value in parse(data)]

        return ColumnType({"type": "array", "items": ["null", item.avro]}, load)

    @staticmethod
    def _numeric(typmod: int) -> ColumnType:
        if typmod < 4:
            return ColumnType("string", _text)
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if scale > precision:  # PostgreSQL 15+ allows a negative scale, stored as a large unsigned value
            return ColumnType("string", _text)

        def load(data: bytes) -> Decimal:
            value = Decimal(data.decode())
            if value.is_nan():  # ±Infinity cannot reach here: PostgreSQL refuses it in a numeric(p, s)
                raise Unrepresentable(_NAN)
            return value

        return ColumnType({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}, load)
