"""What an invalid value does to its record, field by field: the mapping's `on_invalid` over the defaults.

Without a policy every invalid value refuses its record (`STRICT`). A mapping's policy (`field_policy`) refuses
it for what the record cannot do without: the entity's required fields, the fields of its identity match rules
and the references; it drops any other field, unless the mapping's `on_invalid` says otherwise. Required fields
always refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from processors.canonical import REQUIRED
from seamline.processor_config import EntityMapping, IdentityRules, OnInvalid


@dataclass(frozen=True)
class FieldPolicy:
    """`on_invalid` of every field path ('phone', 'lines.quantity'); `default` for a path not listed."""

    actions: Mapping[str, OnInvalid] = field(default_factory=dict)
    default: OnInvalid = "reject"

    def __call__(self, path: str) -> OnInvalid:
        return self.actions.get(path, self.default)


STRICT = FieldPolicy()
"""Every invalid value refuses its record."""


def field_policy(mapping: EntityMapping, rules: IdentityRules) -> FieldPolicy:
    """The policy of a mapping's fields under its entity's identity rules."""
    needed = {name for rule in rules.match for name in ([rule] if isinstance(rule, str) else rule)}
    actions: dict[str, OnInvalid] = {path: "reject" for path in needed | set(mapping.references)}
    actions |= mapping.on_invalid
    line_required = REQUIRED.get(f"{mapping.entity}.lines", ())
    if mapping.line_of:
        required = set(line_required)
    else:
        required = {*REQUIRED[mapping.entity], *(f"lines.{name}" for name in line_required)}
    actions |= {path: "reject" for path in required}
    return FieldPolicy(actions, default="drop")
