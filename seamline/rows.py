"""Typed rows: a source describes each object's columns as Avro types, and its topic gets a schema of its own.

A change event whose `Change.row_schema` is None carries text-encoded columns (schemas/change_event.avsc,
`before`/`after` as maps of strings). A source that knows its column types (a database catalog, a
describe call) gives a RowSchema instead: `before`/`after` become an Avro record with one nullable field
per column, so consumers get decimals, timestamps, UUIDs and arrays as such. A column added or dropped
gives a new RowSchema, registered as a new BACKWARD-compatible version of the topic's value subject.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

from seamline.schemas import schema_text

_INVALID = re.compile(r"[^A-Za-z0-9_]")
_NAMED = ("record", "enum", "fixed")


def avro_name(name: str) -> str:
    """A valid Avro name for a column or object name: other characters become '_', a leading digit gets '_'."""
    cleaned = _INVALID.sub("_", name)
    return f"_{cleaned}" if not cleaned or cleaned[0].isdigit() else cleaned


class RowSchemaError(ValueError):
    """Columns that cannot form one Avro record."""


@dataclass(frozen=True)
class RowSchema:
    """The typed columns of one source object, in source order.

    `fields` holds (Avro field name, Avro type as JSON text); `renames` maps the source's column names
    that are not valid Avro names to the field names used instead.
    """

    system: str
    object: str
    fields: tuple[tuple[str, str], ...]
    renames: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def of(cls, system: str, obj: str, columns: Iterable[tuple[str, Any]]) -> RowSchema:
        """A RowSchema from (column name, Avro type) pairs; a named type used twice is referenced by name."""
        fields: list[tuple[str, str]] = []
        renames: list[tuple[str, str]] = []
        seen: set[str] = set()
        defined: set[str] = set()
        for column, avro_type in columns:
            name = avro_name(column)
            if name in seen:
                raise RowSchemaError(
                    f"{system}.{obj}: columns collide as Avro field {name!r} once invalid characters are "
                    "replaced with '_'; rename one of the columns"
                )
            seen.add(name)
            if name != column:
                renames.append((column, name))
            fields.append((name, json.dumps(_reference_repeats(avro_type, defined), sort_keys=True)))
        return cls(system, obj, tuple(fields), tuple(renames))

    def record(self, row: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """The row as the Avro record: keyed by field names, tagged with the record's full name.

        The tag is fastavro's notation for a union branch; it spares checking the whole row against
        each branch of ["null", Row], half the cost of encoding a change.
        """
        if row is None:
            return None
        if self.renames:
            renamed = dict(self.renames)
            row = {renamed.get(column, column): value for column, value in row.items()}
        return (self.row_name, dict(row))

    @cached_property
    def row_name(self) -> str:
        """Full name of the Row record."""
        return f"{self.namespace}.Row"

    @cached_property
    def namespace(self) -> str:
        return f"io.seamline.source.{avro_name(self.system)}.{avro_name(self.object)}"

    def envelope_schema(self) -> str:
        """The Avro schema text of this object's change events."""
        return _envelope_schema(self)


def _reference_repeats(avro_type: Any, defined: set[str]) -> Any:
    """Avro allows a named type (enum, fixed, record) to be defined once per schema; later uses name it."""
    if isinstance(avro_type, list):
        return [_reference_repeats(branch, defined) for branch in avro_type]
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind in _NAMED:
            if avro_type["name"] in defined:
                return avro_type["name"]
            defined.add(avro_type["name"])
        if kind == "array":
            return {**avro_type, "items": _reference_repeats(avro_type["items"], defined)}
    return avro_type


@cache
def _envelope_schema(row: RowSchema) -> str:
    envelope = copy.deepcopy(json.loads(schema_text("change_event")))
    record = {
        "type": "record",
        "name": "Row",
        "namespace": row.namespace,
        "doc": f"A row of {row.system}.{row.object}.",
        "fields": [
            {"name": name, "type": ["null", json.loads(type_json)], "default": None} for name, type_json in row.fields
        ],
    }
    for entry in envelope["fields"]:
        if entry["name"] == "before":
            entry["type"] = ["null", record]
            entry["doc"] = "The record before the change (the key, or every column with REPLICA IDENTITY FULL)."
        elif entry["name"] == "after":
            entry["type"] = ["null", row.row_name]
            entry["doc"] = "The record after the change; null for d."
    return json.dumps(envelope, sort_keys=True)
