"""Stewards' decisions applied to the golden state in process: accept merges, reject keeps apart, split undoes a
merge; each gives the same golden records when the decisions come first, as on a replay from the source topics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from processors.decisions import apply_decision
from processors.identity import born_id
from seamline.decisions import Decision, DecisionError, decision_key
from tests.processors.resolving import Harness

FIELDS = {"name": "name", "email": "email", "postcode": "zip"}
CONFIG: dict[str, Any] = {
    "mappings": [
        {"source": "erp.customers", "entity": "customer", "fields": FIELDS},
        {"source": "shop.customers", "entity": "customer", "fields": FIELDS},
    ],
    "identity": {
        "customer": {
            "match": ["email"],
            "priority": ["erp", "shop"],
            "fuzzy": {"fields": ["name"], "block": "postcode", "threshold": 85},
        }
    },
}

Row = tuple[str, str, dict[str, Any] | None]
ANNA = ("erp.customers", "1", {"name": "Anna Rossi", "email": "anna@example.it", "zip": "20121"})
ANNA_SHOP = ("shop.customers", "s1", {"name": "Anna Rosi", "email": "rossi.anna@example.it", "zip": "20121"})
ANNA_SHOP_2 = ("shop.customers", "s2", {"name": "A. Rossi", "email": "rossi.anna@example.it", "zip": "20121"})
OTHER_ANNA = ("shop.customers", "s3", {"name": "Anna Rossi", "email": "anna.r@example.com", "zip": "20121"})


class Steered(Harness):
    """The harness, with decisions applied at offsets of their own."""

    def __init__(self) -> None:
        super().__init__(CONFIG)
        self.offset = 0

    def decide(self, decision: Decision) -> None:
        for output in apply_decision(self.resolver, self.offset, decision):
            entity = output.topic.removeprefix("canonical.")
            if output.value is None:
                self.canonical.pop(f"{entity}/{output.key}", None)
            else:
                self.canonical[f"{entity}/{output.key}"] = output.value
        self.offset += 1

    def rows(self, rows: Sequence[Row]) -> None:
        for source, key, row in rows:
            self.change(source, key, row, ts=_ts(source, key))

    def links(self) -> dict[str, list[str]]:
        """golden id -> its records, of the live golden records."""
        return {record["id"]: record["links"] for record in self.live("customer")}

    def content(self) -> dict[str, dict[str, Any]]:
        skip = ("version", "updated_at", "origin")
        return {r["id"]: {k: v for k, v in r.items() if k not in skip} for r in self.live("customer")}


def _ts(source: str, key: str) -> int:
    """Each record's time of its own (the founder rule orders by it), whatever the order of arrival."""
    order = [ANNA, ANNA_SHOP, ANNA_SHOP_2, OTHER_ANNA]
    return 1_700_000_000_000 + 1000 * next(i for i, (s, k, _) in enumerate(order) if (s, k) == (source, key))


def xref(row: Row) -> str:
    return f"{row[0]}:{row[1]}"


def replayed(rows: Sequence[Row], decisions: list[Decision]) -> Steered:
    """A fresh state that reads every decision first, then the rows (in the order given)."""
    fresh = Steered()
    for decision in decisions:
        fresh.decide(decision)
    fresh.rows(rows)
    return fresh


def pair(kind: str, h: Steered, one: Row, other: Row) -> Decision:
    """A decision about the golden records of two rows, as the command line makes it from their links."""
    a, b = h.golden_of(xref(one)), h.golden_of(xref(other))
    assert a and b
    sides = {gid: h.canonical[f"customer/{gid}"]["links"] for gid in (a, b)}
    return Decision(kind, "customer", tuple(sides[a]), tuple(sides[b]), (a, b), decided_by="test")  # type: ignore[arg-type]


def test_accept_merges_through_the_founder_and_a_replay_gives_the_same_records() -> None:
    h = Steered()
    h.rows([ANNA, ANNA_SHOP])
    assert len(h.links()) == 2 and h.suggestions, "alike names in one postcode are suggested, not merged"
    accepted = pair("accept", h, ANNA_SHOP, ANNA)
    h.decide(accepted)
    survivor = born_id(xref(ANNA))
    assert h.links() == {survivor: [xref(ANNA), xref(ANNA_SHOP)]}
    absorbed = h.canonical.get(f"customer/{born_id(xref(ANNA_SHOP))}")
    assert absorbed is None, "the absorbed record ended with its final record and a tombstone"
    assert h.live("customer")[0]["origin"] == "steward"
    h.rows([ANNA_SHOP_2])  # a record matching the accepted side joins the merged record
    assert h.links() == {survivor: [xref(ANNA), xref(ANNA_SHOP), xref(ANNA_SHOP_2)]}
    for order in ([ANNA, ANNA_SHOP, ANNA_SHOP_2], [ANNA_SHOP_2, ANNA_SHOP, ANNA]):
        assert replayed(order, [accepted]).content() == h.content()


def test_the_final_record_of_an_accepted_merge_names_the_survivor() -> None:
    h = Steered()
    h.rows([ANNA, ANNA_SHOP])
    absorbed = born_id(xref(ANNA_SHOP))
    outputs = apply_decision(h.resolver, 0, pair("accept", h, ANNA, ANNA_SHOP))
    final = next(o.value for o in outputs if o.key == absorbed and o.value is not None)
    assert final["deleted"] and final["merged_into"] == born_id(xref(ANNA))
    assert [o.value for o in outputs if o.key == absorbed][-1] is None


def test_a_rejected_pair_is_never_merged_nor_suggested_again() -> None:
    h = Steered()
    h.rows([ANNA, OTHER_ANNA])
    assert h.suggestions
    rejected = pair("reject", h, ANNA, OTHER_ANNA)
    h.decide(rejected)
    before = len(h.suggestions)
    same_mail = {"name": "Anna Rossi", "email": "anna@example.it", "zip": "20121"}
    h.change(*OTHER_ANNA[:2], same_mail, ts=_ts(*OTHER_ANNA[:2]))
    assert len(h.links()) == 2, "the same e-mail does not merge records a steward kept apart"
    renamed = {**same_mail, "name": "Anna Rossi.", "email": "anna.r@example.com"}
    h.change(*OTHER_ANNA[:2], renamed, ts=_ts(*OTHER_ANNA[:2]))
    assert len(h.suggestions) == before, "nor is the pair suggested again"
    rows = [ANNA, ("shop.customers", "s3", same_mail)]
    fresh = replayed(rows, [rejected])
    assert len(fresh.links()) == 2 and not fresh.suggestions


def test_a_later_accept_overrides_an_earlier_reject_of_the_same_records() -> None:
    h = Steered()
    h.rows([ANNA, OTHER_ANNA])
    h.decide(pair("reject", h, ANNA, OTHER_ANNA))
    accepted = pair("accept", h, ANNA, OTHER_ANNA)
    assert accepted.key == pair("reject", h, ANNA, OTHER_ANNA).key, "compaction keeps the latest about one pair"
    h.decide(accepted)
    assert list(h.links().values()) == [[xref(ANNA), xref(OTHER_ANNA)]]


def test_split_undoes_a_merge_and_a_replay_keeps_it_undone() -> None:
    h = Steered()
    shop_same_mail = ("shop.customers", "s2", {"name": "Anna Rossi", "email": "anna@example.it", "zip": "20121"})
    h.rows([ANNA, shop_same_mail, OTHER_ANNA])
    gid = born_id(xref(ANNA))
    assert h.links()[gid] == [xref(ANNA), xref(shop_same_mail)]
    version = h.canonical[f"customer/{gid}"]["version"]
    split = Decision("split", "customer", (xref(ANNA),), (xref(shop_same_mail),), (gid,), decided_by="test")
    h.decide(split)
    assert h.links() == {
        gid: [xref(ANNA)],
        born_id(xref(shop_same_mail)): [xref(shop_same_mail)],
        born_id(xref(OTHER_ANNA)): [xref(OTHER_ANNA)],
    }
    assert h.canonical[f"customer/{gid}"]["version"] > version, "the kept side's versions go on"
    h.change(*shop_same_mail[:2], {**shop_same_mail[2], "name": "Anna R."}, ts=_ts(*ANNA_SHOP_2[:2]))
    assert len(h.links()) == 3, "a change of the record that left does not merge it back"
    for order in ([ANNA, shop_same_mail, OTHER_ANNA], [OTHER_ANNA, shop_same_mail, ANNA]):
        fresh = replayed(order, [split])
        assert fresh.links() == h.links()


def test_a_split_whose_founder_leaves_gives_the_id_to_the_founder() -> None:
    h = Steered()
    shop_same_mail = ("shop.customers", "s2", {"name": "Anna Rossi", "email": "anna@example.it", "zip": "20121"})
    h.rows([ANNA, shop_same_mail])
    split = Decision("split", "customer", (xref(shop_same_mail),), (xref(ANNA),), ("x",), decided_by="test")
    h.decide(split)
    assert h.links() == {born_id(xref(ANNA)): [xref(ANNA)], born_id(xref(shop_same_mail)): [xref(shop_same_mail)]}
    assert replayed([shop_same_mail, ANNA], [split]).content() == h.content()


def test_a_decision_is_about_two_sets_of_records() -> None:
    with pytest.raises(DecisionError, match="both sides"):
        Decision("accept", "customer", ("erp.customers:1",), ("erp.customers:1",), ("a", "b"))
    with pytest.raises(DecisionError, match="one side is empty"):
        Decision("split", "customer", ("erp.customers:1",), (), ("a",))
    assert decision_key("customer", ["b", "a"], ["c"]) == decision_key("customer", ["c"], ["a", "b"])


def test_a_decision_about_an_entity_the_processor_does_not_make_is_refused() -> None:
    h = Steered()
    with pytest.raises(ValueError, match="entity 'supplier'"):
        h.decide(Decision("reject", "supplier", ("a:1",), ("a:2",), ("x", "y")))
