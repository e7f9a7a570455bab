"""Survivorship: the value each field of a golden record takes from its members."""

from __future__ import annotations

from typing import Any

import pytest

from processors.survivorship import survive
from seamline.processor_config import IdentityRules

RULES = IdentityRules(priority=["erp", "crm"], authoritative="erp")
FIELDS = ["name", "email", "phone", "lines"]


def member(system: str, fields: dict[str, Any], ts: int = 1, cleared: list[str] | None = None) -> dict[str, Any]:
    return {"s": system, "f": fields, "t": ts, "c": cleared or []}


@pytest.mark.parametrize("system", ["erp", "crm"])
def test_one_member_gives_its_values_and_empty_ones_as_none(system: str) -> None:
    alone = {"a": member(system, {"name": "Acme", "email": None, "lines": []})}
    assert survive(FIELDS, alone, RULES) == {"name": "Acme", "email": None, "phone": None, "lines": []}


def test_a_field_the_authoritative_member_cleared_is_cleared_whoever_else_has_it() -> None:
    erp = member("erp", {"name": "Acme", "email": None}, cleared=["email"])
    assert survive(FIELDS, {"a": erp}, RULES)["email"] is None
    crm = member("crm", {"name": "ACME Inc", "email": "x@acme.test"})
    assert survive(FIELDS, {"a": erp, "b": crm}, RULES) == {"name": "Acme", "email": None, "phone": None, "lines": []}
    assert survive(FIELDS, {"b": crm}, RULES)["email"] == "x@acme.test"


def test_the_most_trusted_system_with_a_value_wins_then_the_latest_change() -> None:
    members = {
        "a": member("crm", {"name": "Old", "phone": "1"}, ts=1),
        "b": member("crm", {"name": "New", "phone": None}, ts=2),
        "c": member("erp", {"name": None, "email": "e@acme.test"}, ts=0),
    }
    assert survive(FIELDS, members, RULES) == {"name": "New", "email": "e@acme.test", "phone": "1", "lines": []}
