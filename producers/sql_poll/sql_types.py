"""Column types of a reflected SQL table as Avro types, and database values as the Python values fastavro expects.

Naive database timestamps (PostgreSQL `timestamp`, MariaDB `DATETIME`/`TIMESTAMP` read in a UTC session)
are read as UTC. A value its Avro type cannot carry to every reader raises Unrepresentable, which says why and
what to do without quoting the value: a date or timestamp Python cannot hold, which the drivers hand back as
text (PostgreSQL BC or after 9999: producers/sql_poll/pg_loaders.py; MariaDB zero dates: PyMySQL), and NaN
in a decimal. docs/sources.md has the table of edge values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

Convert = Callable[[Any], Any]

_BEYOND_PYTHON = (
    "{}, which Python consumers (the processor among them) cannot read from an Avro {}: set it within years 1 to "
    "9999 or to NULL in the source, or change the column to a text type to publish the database's text form"
)
_DATE = _BEYOND_PYTHON.format("is a date BC, after year 9999 or with a zero year, month or day", "date")
_TIMESTAMP = _BEYOND_PYTHON.format(
    "is a timestamp BC, after year 9999 in UTC or with a zero year, month or day", "timestamp-micros"
)
_NAN = (
    "is NaN, which an Avro decimal cannot hold (and null would mean NULL): set it to a number or NULL, or change the "
    "column to numeric without a precision, published as its text ('NaN' included)"
)


class Unrepresentable(ValueError):
    """A value its column's Avro type cannot hold. The message says what kind of value it is and what to do, never
    the value itself: values are never logged."""


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ColumnType:
    """How one column is published: its Avro type and the conversion of its database values."""

    avro: Any
    convert: Convert


def _decimal(scale: int) -> Convert:
    exponent = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Decimal:
        number = Decimal(value)
        if number.is_nan():
            raise Unrepresentable(_NAN)
        return number.quantize(exponent)

    return convert


def _date(value: date | str) -> date:
    if isinstance(value, str):  # the driver's text of a date Python cannot hold
        raise Unrepresentable(_DATE)
    return value


def _timestamp(value: datetime | str) -> datetime:
    if isinstance(value, str):
        raise Unrepresentable(_TIMESTAMP)
    return utc(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def is_boolean(column_type: sa.types.TypeEngine[Any]) -> bool:
    """BOOLEAN, or MariaDB's spelling of it, TINYINT(1)."""
    return isinstance(column_type, sa.Boolean) or (
        isinstance(column_type, mysql.TINYINT) and column_type.display_width == 1
    )


def is_timestamp(column_type: sa.types.TypeEngine[Any]) -> bool:
    """A date-and-time type (timestamp, timestamptz, DATETIME, TIMESTAMP)."""
    return isinstance(column_type, sa.DateTime)


def column_type(column_type: sa.types.TypeEngine[Any]) -> ColumnType:
    """The Avro type of a reflected column type; types without an Avro counterpart are published as text."""
    if is_boolean(column_type):
        return ColumnType("boolean", bool)
    unsigned = getattr(column_type, "unsigned", False) is True
    if isinstance(column_type, sa.BigInteger) and unsigned:
        return ColumnType({"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}, _decimal(0))
    if isinstance(column_type, sa.BigInteger) or (isinstance(column_type, sa.Integer) and unsigned):
        return ColumnType("long", int)
    if isinstance(column_type, sa.Integer):
        return ColumnType("int", int)
    if isinstance(column_type, sa.Float):
        return ColumnType("double", float)
    if isinstance(column_type, sa.Numeric) and column_type.precision is not None:
        scale = column_type.scale or 0
        avro = {"type": "bytes", "logicalType": "decimal", "precision": column_type.precision, "scale": scale}
        return ColumnType(avro, _decimal(scale))
    if is_timestamp(column_type):
        return ColumnType({"type": "long", "logicalType": "timestamp-micros"}, _timestamp)
    if isinstance(column_type, sa.Date):
        return ColumnType({"type": "int", "logicalType": "date"}, _date)
    if isinstance(column_type, sa.Uuid):
        return ColumnType({"type": "string", "logicalType": "uuid"}, str)
    if isinstance(column_type, sa.JSON):
        return ColumnType("string", _json)
    if isinstance(column_type, sa.LargeBinary | sa.types._Binary):
        return ColumnType("bytes", bytes)
    return ColumnType("string", str)


def key_text(value: Any) -> str:
    """A key value as text, as it appears in positions and in the change's key."""
    return value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)


def value_text(value: Any) -> str:
    """A database value as text, as a refused row carries it: bytes in hex, JSON as JSON, the rest as str."""
    return _json(value) if isinstance(value, dict | list) else key_text(value)


def key_value(column_type: sa.types.TypeEngine[Any], text: str) -> Any:
    """The key text of a position as a parameter of the key column's own type (keys compare as that type)."""
    if isinstance(column_type, sa.Integer):
        return int(text)
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        return Decimal(text)
    if isinstance(column_type, sa.Uuid) and column_type.as_uuid:
        return uuid.UUID(text)
    if isinstance(column_type, sa.LargeBinary | sa.types._Binary):
        return bytes.fromhex(text)
    return text
