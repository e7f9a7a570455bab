"""Cleanse: map a raw change onto a canonical entity's fields, normalise them and validate the result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from processors import iso_codes, normalise
from processors.mapping import Lookups, MappingError, as_text, map_row
from seamline.processor_config import EntityMapping


class InvalidRecord(ValueError):
    """A change that cannot become a canonical record; the message says what was wrong and how to fix it."""


Normaliser = Callable[[str | None, EntityMapping], Any]

_CUSTOMER: dict[str, Normaliser] = {
    "name": lambda value, _m: normalise.text(value),
    "email": lambda value, _m: normalise.email(value),
    "phone": lambda value, mapping: normalise.phone(value, mapping.default_region),
    "country": lambda value, _m: iso_codes.country(value),
}
FIELDS: dict[str, dict[str, Normaliser]] = {"customer": _CUSTOMER}
REQUIRED: dict[str, tuple[str, ...]] = {"customer": ("name",)}


@dataclass(frozen=True)
class Cleansed:
    """A source change in canonical terms. `fields` is None for a delete."""

    entity: str
    system: str
    object: str
    source_key: str
    op: str
    fields: dict[str, Any] | None
    position: str
    connector: str
    source_ts_ms: int


def format_key(columns: Mapping[str, str]) -> str:
    """The source key as one string: the value of a single key column, else 'col=value;…' in key order."""
    if len(columns) == 1:
        return next(iter(columns.values()))
    return ";".join(f"{name}={value}" for name, value in columns.items())


def cleanse(
    event: Mapping[str, Any], key: Mapping[str, str], mapping: EntityMapping, lookups: Lookups | None = None
) -> Cleansed:
    """The canonical form of one change event, or InvalidRecord naming every bad field.

    The mapping's rules (with `lookups`, processor.lookups) give the field values, then each is normalised.
    """
    source = event["source"]
    if event["op"] == "t":
        raise InvalidRecord(
            f"{source['system']}.{source['object']} was truncated at {source['position']}: a truncate removes "
            "rows without naming them, so no canonical record changed; delete the rows in the source instead, "
            "or take a new snapshot of the object to rebuild its records"
        )
    fields = None
    if event["op"] != "d":
        try:
            mapped = map_row(mapping.fields, event["after"] or {}, lookups or {})
        except MappingError as exc:
            raise InvalidRecord(f"{source['system']}.{source['object']}: {exc}") from exc
        fields, problems = {}, []
        for name, normaliser in FIELDS[mapping.entity].items():
            try:
                fields[name] = normaliser(as_text(mapped[name]), mapping) if name in mapped else None
            except normalise.InvalidField as exc:
                problems.append(str(exc))
        problems += [f"{name} is required but empty" for name in REQUIRED[mapping.entity] if not fields.get(name)]
        if problems:
            raise InvalidRecord("; ".join(problems))
    return Cleansed(
        entity=mapping.entity,
        system=source["system"],
        object=source["object"],
        source_key=format_key(key),
        op=event["op"],
        fields=fields,
        position=source["position"],
        connector=source["connector"],
        source_ts_ms=source["ts_ms"],
    )
