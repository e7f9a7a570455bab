"""Salesforce field types as Avro types, and Salesforce JSON values as the Python values fastavro expects."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from seamline.rows import RowSchema

# compound fields repeat their component fields; base64 bodies cannot be read through a query
SKIPPED_TYPES = frozenset({"address", "location", "base64"})

_AVRO: dict[str, Any] = {
    "datetime": {"type": "long", "logicalType": "timestamp-micros"},
    "date": {"type": "int", "logicalType": "date"},
    "double": "double",
    "currency": "double",
    "percent": "double",
    "int": "int",
    "long": "long",
    "boolean": "boolean",
}


def parse_datetime(text: str) -> datetime:
    """A Salesforce datetime (2026-11-22T04:05:06.123+0000, or …Z) as an aware UTC datetime."""
    return datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00"))).astimezone(UTC)


def soql_datetime(moment: datetime) -> str:
    """A datetime as a SOQL literal in UTC with milliseconds: 2026-11-22T04:05:06.123Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def queried_fields(describe: dict[str, Any]) -> dict[str, str]:
    """Field name -> Salesforce type of every field a query can return, in describe order."""
    return {f["name"]: f["type"] for f in describe["fields"] if f["type"] not in SKIPPED_TYPES}


def row_schema(system: str, obj: str, fields: dict[str, str]) -> RowSchema:
    """The typed columns of one object: datetime, date, numbers and boolean as such, the rest as strings."""
    return RowSchema.of(system, obj, [(name, _AVRO.get(kind, "string")) for name, kind in fields.items()])


def typed_row(fields: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    """One query result record as the row of its RowSchema."""
    return {name: _value(kind, record.get(name)) for name, kind in fields.items()}


def _value(kind: str, raw: Any) -> Any:
    if raw is None:
        return None
    if kind == "datetime":
        return parse_datetime(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    if kind in ("double", "currency", "percent"):
        return float(raw)
    if kind in ("int", "long"):
        return int(raw)
    if kind == "boolean":
        return bool(raw)
    return raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)
