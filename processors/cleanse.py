"""Cleanse: map a raw change onto a canonical entity's fields, normalise them and validate the result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import NoneType
from typing import Any

import msgpack

from processors import canonical, framing, iso_codes, normalise
from processors.field_policy import STRICT, FieldPolicy
from processors.identity import field_key, xref, xref_key
from processors.packing import pack
from seamline.data_quality import FieldIssue
from seamline.events import format_key
from seamline.mapping import Lookups, MappingError, apply_rule, as_text, map_row
from seamline.processor_config import EntityMapping


class InvalidRecord(ValueError):
    """A change that cannot become a canonical record; the message says what was wrong and how to fix it."""


@dataclass(frozen=True)
class Cleansed:
    """A source change in canonical terms. `fields` is None for a delete.

    `same_as` holds the cross-references other systems keep for this record (external ids); `parent` the
    cross-reference of the order header when the record is one order line.
    """

    entity: str
    system: str
    object: str
    source_key: str
    op: str
    fields: dict[str, Any] | None
    position: str
    connector: str
    source_ts_ms: int
    event_id: str
    same_as: list[str] = field(default_factory=list)
    parent: str | None = None
    issues: tuple[FieldIssue, ...] = field(default=(), kw_only=True, repr=False, compare=False)
    """The fields the record goes on without, or with as written (cleanse's findings for dq.<entity>; they do not
    travel to resolve)."""
    xref: str = field(init=False, repr=False, compare=False)
    """The record's cross-reference, '<system>.<object>:<key>' (resolve reads it several times a change)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "xref", xref(self.system, self.object, self.source_key))

    @property
    def source(self) -> str:
        """'<system>.<object>'."""
        return f"{self.system}.{self.object}"

    def values(self) -> list[Any]:
        """The fields in their declared order: what `encode` packs and the resolve state holds."""
        return [
            self.entity,
            self.system,
            self.object,
            self.source_key,
            self.op,
            self.fields,
            self.position,
            self.connector,
            self.source_ts_ms,
            self.event_id,
            self.same_as,
            self.parent,
        ]

    @classmethod
    def from_values(cls, values: Any) -> Cleansed:
        """The record `values` gave; InvalidRecord for anything else."""
        if not (isinstance(values, list) and len(values) == len(_TYPES) and all(map(isinstance, values, _TYPES))):
            shape = f"list of {len(values)}" if isinstance(values, list) else type(values).__name__
            raise _foreign(f"a msgpack {shape}, not the {len(_TYPES)} typed fields of a change")
        return cls(*values)

    def encode(self) -> bytes:
        """The record as it travels from cleanse to resolve: its `values` in msgpack."""
        try:
            return pack(self.values())
        except OverflowError:
            raise InvalidRecord(f"{self.source}: a whole number is beyond 64 bits, more than any field holds") from None

    @classmethod
    def decode(cls, data: bytes) -> Cleansed:
        """The record `encode` wrote; InvalidRecord for anything else."""
        try:
            values = msgpack.unpackb(data)
        except ValueError as exc:
            raise _foreign(f"not a msgpack value: {str(exc) or type(exc).__name__}") from None
        return cls.from_values(values)


_TYPES: tuple[Any, ...] = (str, str, str, str, str, (dict, NoneType), str, str, int, str, list, (str, NoneType))
"""The type of each of a change's `values`."""
_EVENT_ID = Cleansed.__match_args__.index("event_id")


def _foreign(problem: str) -> InvalidRecord:
    return InvalidRecord(
        f"not a change written by the cleanse stage ({problem}): only the processor may write the identity topic; "
        "`seamline acls` lists who may"
    )


def encoded_changes(frame: bytes) -> list[bytes]:
    """The encoded changes of one identity-topic frame; InvalidRecord for a frame the cleanse stage did not write."""
    try:
        return framing.items(frame)
    except ValueError as exc:
        raise _foreign(f"the frame is {exc}") from None


def encoded_event_id(data: bytes) -> str | None:
    """The event_id of an encoded change, if it has one where `encode` puts it."""
    try:
        values = msgpack.unpackb(data)
    except ValueError:
        return None
    found = values[_EVENT_ID] if isinstance(values, list) and len(values) > _EVENT_ID else None
    return found if isinstance(found, str) else None


def cleanse(
    event: Mapping[str, Any],
    key: Mapping[str, str],
    mapping: EntityMapping,
    lookups: Lookups | None = None,
    policy: FieldPolicy = STRICT,
) -> Cleansed:
    """The canonical form of one change event, or InvalidRecord naming every bad field.

    The mapping's rules (with `lookups`, processor.lookups) give the field values, then each is normalised, phones,
    postcodes and tax numbers in the record's own country (`_region`). A value that cannot be normalised refuses the
    record, or, as `policy` says (processors/field_policy.py), leaves it out or keeps it as written: the change's
    `issues` list those. A rule that fails (a lookup, a cast) always refuses the record: the mapping must change.
    """
    source = event["source"]
    row = event["after"] if event["op"] != "d" else event["before"]
    fields = same_as = parent = None
    issues: list[FieldIssue] = []
    if event["op"] not in ("d", "t"):  # a truncate names no row: resolve deletes every row of the object it knows
        fields, same_as, issues = _fields(event["after"] or {}, mapping, lookups or {}, policy)
    if mapping.line_of is not None and event["op"] != "t":
        parent = _parent(row, mapping, lookups or {})
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
        event_id=event["event_id"],
        same_as=same_as or [],
        parent=parent,
        issues=tuple(issues),
    )


def _region(row: Mapping[str, Any], mapped: Mapping[str, Any], mapping: EntityMapping, lookups: Lookups) -> str:
    """The ISO country a record's phones, postcodes and tax numbers are read in: its own country (`region_from`,
    else its mapped `country`) when that names one, else the mapping's default_region."""
    written = mapped.get("country") if mapping.region_from is None else apply_rule(mapping.region_from, row, lookups)
    try:
        return iso_codes.country(as_text(written)) or mapping.default_region
    except normalise.InvalidField:  # the country field reports itself
        return mapping.default_region


@dataclass
class _Findings:
    """What normalising a record's fields found: problems that refuse it, issues it goes on with."""

    policy: FieldPolicy
    problems: list[str] = field(default_factory=list)
    issues: list[FieldIssue] = field(default_factory=list)

    def invalid(self, path: str, message: str, error: normalise.InvalidField, written: Any) -> tuple[bool, Any]:
        """Whether the record holds the field at `path` whose value `written` failed, and the value it holds."""
        action = self.policy(path)
        if action == "reject":
            self.problems.append(message)
            return False, None
        self.issues.append(FieldIssue(path, error.reason, "kept" if action == "keep" else "dropped", message))
        return (True, normalise.text(as_text(written))) if action == "keep" else (False, None)


def _fields(
    row: Mapping[str, Any], mapping: EntityMapping, lookups: Lookups, policy: FieldPolicy
) -> tuple[dict[str, Any], list[str], list[FieldIssue]]:
    try:
        mapped = map_row(mapping.fields, row, lookups)
        others = {source: as_text(apply_rule(rule, row, lookups)) for source, rule in mapping.same_as.items()}
        region = _region(row, mapped, mapping, lookups)
    except (MappingError, ValueError) as exc:
        raise InvalidRecord(f"{mapping.source}: {exc}") from exc
    found = _Findings(policy)
    entity = f"{mapping.entity}.lines" if mapping.line_of else mapping.entity
    fields = _normalised(entity, mapped, mapping, region, found)
    lines = mapped.get("lines")
    if isinstance(lines, list):
        fields["lines"] = []
        for index, line in enumerate(lines):
            if "line_number" not in line:  # lines without numbers (Shopify line items) are numbered in order
                line = {**line, "line_number": index + 1}
            fields["lines"].append(_normalised(f"{mapping.entity}.lines", line, mapping, region, found, index))
    _reference_keys(fields, mapping, region, found)
    if found.problems:
        raise InvalidRecord("; ".join(found.problems))
    same_as = sorted(f"{source}:{key.strip()}" for source, key in others.items() if key and key.strip())
    return fields, same_as, found.issues


def _normalised(
    entity: str,
    mapped: Mapping[str, Any],
    mapping: EntityMapping,
    region: str,
    found: _Findings,
    line: int | None = None,
) -> dict[str, Any]:
    """The normalised values of the mapped fields (of order line `line`, when given) that the record holds."""
    fields: dict[str, Any] = {}
    path_prefix, where_prefix = ("lines.", f"lines[{line}].") if line is not None else ("", "")
    for name, normaliser in canonical.normalisers(entity).items():
        if name not in mapped:
            continue
        try:
            fields[name] = normaliser(mapped[name], mapping, region)
        except normalise.InvalidField as exc:
            message = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            holds, value = found.invalid(path_prefix + name, where_prefix + message, exc, mapped[name])
            if holds:
                fields[name] = value
    found.problems += [
        f"{where_prefix}{name} is required but empty" for name in canonical.REQUIRED[entity] if fields.get(name) is None
    ]
    return fields


def _reference_keys(fields: dict[str, Any], mapping: EntityMapping, region: str, found: _Findings) -> None:
    """Replace each reference's value by the match key of the record it names; what fails goes to `found`."""
    for path, reference in mapping.references.items():
        head, _, line_field = path.partition(".")
        holders = fields.get("lines") or [] if line_field and not mapping.line_of else [fields]
        name = line_field if line_field and not mapping.line_of else path
        for holder in holders:
            value = holder.get(name)
            if value is None:
                continue
            if reference.source is not None:
                holder[name] = xref_key(f"{reference.source}:{value}")
                continue
            entity, _, field_name = (reference.match or "").partition(".")
            try:
                target = canonical.normalisers(entity)[field_name](value, mapping, region)
            except normalise.InvalidField as exc:
                found.invalid(path, f"{path}: {exc}", exc, value)
                holder[name] = None  # a reference is never kept as written: it would name no record
                continue
            holder[name] = None if target is None else field_key(entity, (field_name,), (target,))


def _parent(row: Mapping[str, Any] | None, mapping: EntityMapping, lookups: Lookups) -> str:
    """The cross-reference of an order line's header."""
    assert mapping.line_of is not None
    try:
        key = as_text(apply_rule(mapping.line_of.column, row or {}, lookups))
    except (MappingError, ValueError) as exc:
        raise InvalidRecord(f"{mapping.source}: {exc}") from exc
    if not key:
        raise InvalidRecord(
            f"{mapping.source}: the line has no {mapping.line_of.column}, so its order is unknown; for a delete, "
            "give the table REPLICA IDENTITY FULL so the old row carries it"
        )
    return f"{mapping.line_of.source}:{key}"
