"""Sync marks: what a sink writes into each record of a target that does not say who changed a record, so that
the target's own source can tell seamline's write coming back (an echo) from a change made in the target.

A mark is the text '<version> <digest> <field>,<field>,...': the canonical version the sink wrote, and a digest
of the values it wrote into the named fields (dotted paths into nested objects, e.g. user_fields.city) as the
target holds them. While every named field still holds what was written, the record is the sink's own write;
a change to any of them gives another digest, and the record is a change again. The sink also reads the version
back, as its version guard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def sync_mark(version: int, written: Mapping[str, Any]) -> str:
    """The mark of one write: `written` is field path -> the JSON value the target will hold there."""
    return f"{version} {_digest(written)} {','.join(sorted(written))}"


def marked_version(mark: object) -> int | None:
    """The version a mark says was written; None when `mark` is not a sync mark."""
    parsed = _parsed(mark)
    return None if parsed is None else parsed[0]


def holds_its_mark(record: Mapping[str, Any], mark_path: str) -> bool:
    """Whether `record` (as the target's API returns it) has a sync mark at `mark_path` and still holds, in every
    field the mark names, the value that was written."""
    parsed = _parsed(value_at(record, mark_path))
    if parsed is None:
        return False
    _version, digest, fields = parsed
    return _digest({field: value_at(record, field) for field in fields}) == digest


def value_at(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of nested objects; None where a step is missing."""
    value: Any = record
    for step in path.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _digest(values: Mapping[str, Any]) -> str:
    text = json.dumps(sorted(values.items()), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _parsed(mark: object) -> tuple[int, str, list[str]] | None:
    if not isinstance(mark, str):
        return None
    parts = mark.split(" ")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1], parts[2].split(",")
