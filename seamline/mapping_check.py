"""Checks of processor mappings against the canonical schemas and the declared lookup tables."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from seamline.field_rules import ConvertRule, EachRule, FieldRule, LookupRule
from seamline.schemas import schema_text

Location = tuple[str | int, ...]

MANAGED = frozenset({"id", "version", "deleted", "xrefs", "links", "origin", "updated_at", "merged_into"})
"""Canonical fields seamline sets itself; a mapping cannot write them."""


@cache
def canonical_fields(entity: str) -> dict[str, Any]:
    """The mappable fields of schemas/<entity>.avsc: name -> Avro type."""
    schema = json.loads(schema_text(entity))
    return {field["name"]: field["type"] for field in schema["fields"] if field["name"] not in MANAGED}


def line_fields(entity: str) -> dict[str, Any] | None:
    """The fields of one order line of an entity with `lines`, else None."""
    lines = canonical_fields(entity).get("lines")
    return None if lines is None else _line_fields(lines)


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
