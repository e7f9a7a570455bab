"""Survivorship: which member record's value each field of a golden record takes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from seamline.processor_config import IdentityRules

Member = Mapping[str, Any]
"""A linked source record in the golden state: {'s': system, 'f': fields, 't': ts ms, 'c': cleared fields}."""


def survive(field_names: Iterable[str], members: Mapping[str, Member], rules: IdentityRules) -> dict[str, Any]:
    """Each field from the most trusted system that has a value, ties to the most recent change.

    A null never wins over a value, except that a field the authoritative system cleared is cleared.
    An empty list of order lines counts as no value.
    """
    if len(members) == 1:
        return _alone(field_names, next(iter(members.values())), rules)
    result: dict[str, Any] = {}
    for name in field_names:
        priority = rules.field_priority.get(name, rules.priority)
        best: tuple[int, int, str] | None = None
        cleared = False
        for ref, member in members.items():
            if member["s"] == rules.authoritative and name in member["c"]:
                cleared = True
            value = member["f"].get(name)
            if value is None or value == []:
                continue
            system = member["s"]
            rank = (priority.index(system) if system in priority else len(priority), -member["t"], ref)
            if best is None or rank < best:
                best = rank
                result[name] = value
        if cleared or best is None:
            result[name] = [] if name == "lines" else None
    return result


def _alone(field_names: Iterable[str], member: Member, rules: IdentityRules) -> dict[str, Any]:
    """`survive` for a golden record of one member (most are): its values, empty ones and cleared ones as none."""
    fields = member["f"]
    cleared = member["c"] if member["s"] == rules.authoritative else ()
    result: dict[str, Any] = {}
    for name in field_names:
        value = fields.get(name)
        result[name] = ([] if name == "lines" else None) if value is None or value == [] or name in cleared else value
    return result


def cleared_fields(previous: Member | None, fields: Mapping[str, Any]) -> list[str]:
    """The fields a member's new version leaves empty that it had a value for (or had cleared before)."""
    if previous is None:
        return []
    before = previous["f"]
    return sorted(
        name
        for name, value in fields.items()
        if value in (None, []) and (before.get(name) not in (None, []) or name in previous["c"])
    )
