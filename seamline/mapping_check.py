"""Checks of mappings against the canonical schemas and the declared lookup tables: a processor's mappings
write canonical fields, a sink's reverse mappings read them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from seamline.field_rules import (
    CastRule,
    ColumnRule,
    ConcatRule,
    ConvertRule,
    EachRule,
    FieldRule,
    LookupRule,
    SplitRule,
    UnitColumn,
)
from seamline.schemas import schema_text

Location = tuple[str | int, ...]

MANAGED = frozenset({"id", "version", "deleted", "xrefs", "links", "origin", "updated_at", "merged_into"})
"""Canonical fields seamline sets itself; a mapping cannot write them."""


@cache
@cache
def canonical_fields(entity: str) -> Mapping[str, Any]:
    """The mappable fields of schemas/<entity>.avsc: name -> Avro type (shared: not to be changed)."""
    return {name: avro_type for name, avro_type in record_fields(entity).items() if name not in MANAGED}


@cache
def record_fields(entity: str) -> dict[str, Any]:
    """Every field of a canonical record of schemas/<entity>.avsc, the managed ones included: name -> Avro type."""
    return {field["name"]: field["type"] for field in json.loads(schema_text(entity))["fields"]}


def line_fields(entity: str) -> dict[str, Any] | None:
    """The fields of one order line of an entity with `lines`, else None."""
    lines = canonical_fields(entity).get("lines")
    return None if lines is None else _line_fields(lines)


def string_typed(avro_type: Any) -> bool:
    """Whether a canonical field holds text (a string, nullable or not)."""
    return avro_type == "string" or (isinstance(avro_type, list) and "string" in avro_type)


def _line_fields(avro_type: Any) -> dict[str, Any] | None:
    """The fields of the records of an array-of-records type (nullable or not), else None."""
    for branch in avro_type if isinstance(avro_type, list) else [avro_type]:
        items = branch.get("items") if isinstance(branch, dict) and branch.get("type") == "array" else None
        if isinstance(items, dict) and items.get("type") == "record":
            return {field["name"]: field["type"] for field in items["fields"]}
    return None


def rule_problems(
    entity: str,
    rules: Mapping[str, FieldRule],
    lookups: Mapping[str, object],
    targets: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Location, str]]:
    """(location under `fields`, message) for each rule that names an unknown field or an undeclared lookup table."""
    targets = canonical_fields(entity) if targets is None else targets
    for name, rule in rules.items():
        if name in MANAGED and name not in targets:
            yield (name,), f"{name} is set by seamline itself: map only {', '.join(targets)}"
            continue
        if name not in targets:
            yield (name,), f"{entity} has no field {name!r}: use one of {', '.join(targets)} (schemas/{entity}.avsc)"
            continue
        if isinstance(rule, LookupRule | ConvertRule):
            table, key = (rule.lookup, "lookup") if isinstance(rule, LookupRule) else (rule.rates, "rates")
            if table is not None and table not in lookups:
                declared = ", ".join(lookups) or "none"
                yield (name, key), f"lookup table {table!r} is not declared under processor.lookups ({declared})"
        if isinstance(rule, EachRule):
            line_fields = _line_fields(targets[name])
            if line_fields is None:
                yield (name, "each"), f"{entity}.{name} is not a list of records: `each` maps a list of lines"
            else:
                inner = rule_problems(f"{entity}.{name}", rule.fields, lookups, line_fields)
                yield from (((name, "fields", *where), message) for where, message in inner)


def reference_problems(
    entity: str, references: Mapping[str, Any], targets: Mapping[str, Any], entities: tuple[str, ...]
) -> Iterator[tuple[Location, str]]:
    """(location under `references`, message) for a reference from an unknown field or to an unknown field."""
    for path, reference in references.items():
        head, _, line_field = path.partition(".")
        known = head in targets and (not line_field or line_field in (_line_fields(targets[head]) or {}))
        if not known:
            yield (path,), f"{entity} has no field {path!r} to resolve: use a mapped field such as customer_id"
        if reference.match is not None:
            target, _, field = reference.match.partition(".")
            if target not in entities or field not in canonical_fields(target):
                yield (path, "match"), f"{reference.match!r} is not '<entity>.<field>' of {', '.join(entities)}"


def read_problems(
    entity: str,
    rules: Mapping[str, FieldRule],
    lookups: Mapping[str, object],
    sources: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Location, str]]:
    """(location under `fields`, message) for each rule of a sink's reverse mapping that reads a field the
    canonical record does not have, or an undeclared lookup table."""
    sources = record_fields(entity) if sources is None else sources
    for name, rule in rules.items():
        for column in columns_read(rule):
            if column.partition(".")[0] not in sources:
                yield (name,), f"{entity} has no field {column!r} to read: use one of {', '.join(sources)}"
        if isinstance(rule, LookupRule | ConvertRule):
            table = rule.lookup if isinstance(rule, LookupRule) else rule.rates
            if table is not None and table not in lookups:
                yield (name,), f"lookup table {table!r} is not declared under the sink's lookups"
        if isinstance(rule, EachRule) and rule.each in sources:
            lines = _line_fields(sources[rule.each])
            if lines is None:
                yield (name, "each"), f"{entity}.{rule.each} is not a list of records: `each` maps a list of lines"
            else:
                inner = read_problems(f"{entity}.{rule.each}", rule.fields, lookups, lines)
                yield from (((name, "fields", *where), message) for where, message in inner)


def columns_read(rule: FieldRule) -> list[str]:
    """The fields a rule reads from its row (for `each`, the list itself; its lines are checked apart)."""
    if isinstance(rule, str):
        return [rule]
    if isinstance(rule, ColumnRule | LookupRule | CastRule):
        return [rule.column]
    if isinstance(rule, SplitRule):
        return [rule.split]
    if isinstance(rule, ConcatRule):
        return [item for item in rule.concat if isinstance(item, str)]
    if isinstance(rule, ConvertRule):
        return [rule.convert] + ([rule.from_unit.column] if isinstance(rule.from_unit, UnitColumn) else [])
    if isinstance(rule, EachRule):
        return [rule.each]
    return []
