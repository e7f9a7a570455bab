"""Probabilistic matching in the resolver: merges above the upper threshold, suggestions between the thresholds,
never a merge on name and place alone, bounded blocks, deletes leave them, ids independent of arrival order."""

from __future__ import annotations

from typing import Any

from processors.identity import born_id
from processors.matching import Matcher
from processors.resolve import MemoryTable
from seamline.match_config import ProbabilisticRule
from tests.processors.resolving import Harness

FIELDS = {"name": "name", "email": "email", "phone": "phone", "street": "street", "postcode": "zip", "country": "cc"}
CONFIG: dict[str, Any] = {
    "mappings": [
        {"source": "erp.customers", "entity": "customer", "fields": FIELDS},
        {"source": "crm.Account", "entity": "customer", "fields": FIELDS},
    ],
    "identity": {"customer": {"match": ["email"], "probabilistic": {}}},
}
ROSSI = {"name": "Rossi Costruzioni S.r.l.", "phone": "+39 011 5550101", "street": "Via Roma 12", "zip": "10121"}


def row(**changed: Any) -> dict[str, Any]:
    return {**ROSSI, "cc": "IT", "email": None, **changed}


def test_records_agreeing_on_phone_and_name_merge_into_the_founders_golden_record() -> None:
    for order in (("erp.customers", "crm.Account"), ("crm.Account", "erp.customers")):
        harness = Harness(CONFIG)
        times = {"erp.customers": 1_000, "crm.Account": 2_000}  # the ERP record's first change is the earliest
        for source in order:
            written = row(name="ROSSI COSTRUZIONI SRL") if source == "crm.Account" else row(email="info@rossi.it")
            harness.change(source, "1", written, ts=times[source])
        [golden] = harness.live("customer")
        assert golden["id"] == born_id("erp.customers:1")
        assert golden["links"] == ["crm.Account:1", "erp.customers:1"]


def test_a_pair_alike_in_name_and_place_only_is_suggested_once_never_merged() -> None:
    harness = Harness(CONFIG)
    harness.change("erp.customers", "1", row())
    harness.change("crm.Account", "2", row(phone="+39 011 5550199", street="Via Po 3"))
    assert len(harness.live("customer")) == 2
    [suggestion] = harness.suggestions
    assert suggestion["rule"] == "probabilistic:name+postcode+country"
    assert suggestion["id"] == harness.golden_of("crm.Account:2")
    assert suggestion["candidate_id"] == harness.golden_of("erp.customers:1")
    assert 8 <= suggestion["score"] < 20
    harness.change("crm.Account", "2", row(phone="+39 011 5550199", street="Via Po 4"))
    assert len(harness.suggestions) == 1  # the same pair is not suggested again


def test_name_and_place_never_merge_whatever_the_weights() -> None:
    name = {"field": "name", "kind": "similar", "levels": [95], "m": [0.999999, 0.000001], "u": [0.000001, 0.999999]}
    postcode = {"field": "postcode", "m": [0.999999, 0.000001], "u": [0.000001, 0.999999]}
    rule = {"comparisons": [name, postcode], "blocking": ["postcode"], "upper": 1, "lower": 0}
    harness = Harness({**CONFIG, "identity": {"customer": {"probabilistic": rule}}})
    harness.change("erp.customers", "1", row())
    harness.change("crm.Account", "2", row())
    assert len(harness.live("customer")) == 2
    assert [s["score"] > 30 for s in harness.suggestions] == [True]


def test_a_deleted_record_leaves_its_blocks_and_matches_nothing_after() -> None:
    harness = Harness(CONFIG)
    harness.change("erp.customers", "1", row())
    index = harness.tables.index
    assert index.scan("p:") == ["p:erp.customers:1"] and index.scan("b:customer|phone=")
    harness.change("erp.customers", "1", None)
    assert index.scan("p:") == [] and index.scan("b:customer|") == []
    harness.change("crm.Account", "2", row())
    [golden] = harness.live("customer")
    assert golden["links"] == ["crm.Account:2"]


def test_a_block_holds_its_newest_records_up_to_its_limit() -> None:
    index, links = MemoryTable(), MemoryTable()
    rule = ProbabilisticRule(blocking=["postcode"], block_limit=2)
    matcher = Matcher(index, links)
    for number in range(4):
        matcher.place("customer", f"erp.customers:{number}", None, {"name": f"N{number}", "postcode": "10121"}, rule)
    assert index["b:customer|postcode=10121"] == ["erp.customers:2", "erp.customers:3"]
