"""Identity: cross-references, deterministic golden ids and the match keys that say two records are one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from processors.normalise import match_key
from seamline.processor_config import IdentityRules

_NAMESPACE = uuid.UUID("6f1c3b0e-5a2d-4f4e-9a53-2b1c7d9e0a11")
_EXACT = frozenset({"email"})
"""Fields whose accents and script tell two things apart: 'müller@' and 'muller@' are two mailboxes."""


def xref(system: str, obj: str, source_key: str) -> str:
    """The cross-reference of a source record: '<system>.<object>:<key>'."""
    return f"{system}.{obj}:{source_key}"


def born_id(ref: str) -> str:
    """The golden id born from a source record's cross-reference: the same on every replay from the beginning."""
    return str(uuid.uuid5(_NAMESPACE, ref))


def xref_key(ref: str) -> str:
    """The match key every record holds for its own cross-reference, and external ids claim for others."""
    return f"x:{ref}"


def field_key(entity: str, fields: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """The match key of a rule's values: 'entity|field+field|value|value', each value's `match_key` (case, accents
    and script folded; e-mail addresses only case-folded)."""
    keys = (match_key(str(value), exact=name in _EXACT) or "" for name, value in zip(fields, values, strict=True))
    return f"{entity}|{'+'.join(fields)}|" + "|".join(keys)


def match_keys(entity: str, fields: Mapping[str, Any], rules: IdentityRules) -> list[str]:
    """The keys of a record under each deterministic rule whose fields all have a value."""
    keys = []
    for rule in rules.match:
        names = (rule,) if isinstance(rule, str) else tuple(rule)
        values = tuple(fields.get(name) for name in names)
        if all(value is not None and value != "" for value in values):
            keys.append(field_key(entity, names, values))
    return keys
