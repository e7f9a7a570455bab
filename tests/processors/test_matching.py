"""Match quality on a multilingual data set with known duplicates: in-process, then on the real stack.

Precision and recall are pairwise over source records (tests/processors/companies.py). Deterministic rules
must never merge two different companies (precision 1.0); recall is what the rules can reach. With the
probabilistic rule, its weights fitted by EM on the canonical records the deterministic rules make (as
`seamline match train` does), precision stays at 0.995 or more and recall reaches 0.90 or more, on the data set
and on one generated with another seed; the golden records and their ids do not depend on the arrival order.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.cleanse import InvalidRecord
from processors.match_training import fit
from processors.matching import WEAK
from seamline.config import KafkaConfig
from seamline.match_config import DEFAULT_COMPARISONS, ProbabilisticRule
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end, record_position
from seamline.topics import canonical_topic, dlq_topic, dq_topic, suggestions_topic
from tests.conftest import wait_until
from tests.processors.companies import DataSet, companies, pairwise
from tests.processors.raw_events import RawChange, publish
from tests.processors.resolving import Harness

PROCESSOR: dict[str, Any] = {
    "mappings": [
        {
            "source": "erp.customers",
            "entity": "customer",
            "fields": {
                "name": "full_name",
                "email": "email",
                "phone": "phone",
                "country": "country_code",
                "tax_id": "vat_id",
                "street": "street",
                "postcode": "postcode",
                "city": "city",
            },
        },
        {
            "source": "crm.Account",
            "entity": "customer",
            "fields": {
                "name": "Name",
                "phone": "Phone",
                "country": "BillingCountry",
                "tax_id": "VAT_Number__c",
                "street": "BillingStreet",
                "postcode": "BillingPostalCode",
                "city": "BillingCity",
            },
            "same_as": {"erp.customers": "ERP_Customer_Number__c"},
        },
        {
            "source": "shop.customers",
            "entity": "customer",
            "fields": {
                "name": {"concat": ["default_address.company"]},
                "email": "email",
                "phone": "phone",
                "country": "default_address.country_code",
                "street": "default_address.address1",
                "postcode": "default_address.zip",
                "city": "default_address.city",
            },
        },
    ],
    "identity": {
        "customer": {
            "match": ["email", "tax_id"],
            "fuzzy": {"fields": ["name"], "block": "postcode", "threshold": 90},
            "priority": ["erp", "crm", "shop"],
            "authoritative": "erp",
        }
    },
}
HELD_APART_SEED = 7
"""The seed of a second data set, never used to fit or tune the rule."""


def changes(data: DataSet) -> list[RawChange]:
    return [
        RawChange(source, key, row, tick=index + 1, ts_ms=1_767_225_600_000 + index * 1000)
        for index, (source, key, row) in enumerate(data.records)
    ]


def probabilistic(rule: ProbabilisticRule) -> dict[str, Any]:
    """PROCESSOR with a probabilistic rule for customers."""
    processor = copy.deepcopy(PROCESSOR)
    processor["identity"]["customer"]["probabilistic"] = rule.model_dump()
    return processor


def in_process(
    data: DataSet, processor: dict[str, Any] = PROCESSOR, order: list[RawChange] | None = None
) -> tuple[dict[str, str], set[str], Harness]:
    """xref -> golden id, and the xrefs cleansing refused, from the in-process resolver."""
    harness = Harness(processor)
    refused = set()
    for change in order or changes(data):
        try:
            harness.change(change.source, change.key, change.row, ts=change.ts_ms)
        except InvalidRecord:
            refused.add(f"{change.source}:{change.key}")
    links = harness.tables.links
    assert isinstance(links, dict)
    linked = {ref: link["g"] for ref, link in links.items() if link["g"]}
    return linked, refused, harness


def report(name: str, precision: float, recall: float, data: DataSet, golden: int) -> None:
    figures = {"precision": round(precision, 4), "recall": round(recall, 4), "records": len(data.records)}
    figures |= {"companies": len(set(data.truth.values())), "golden_records": golden}
    print(f"\n{name}: {json.dumps(figures)}")
    out = os.environ.get("SEAMLINE_MATCH_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as file:
            file.write(json.dumps({"run": name, **figures}) + "\n")


def figures(data: DataSet, processor: dict[str, Any]) -> tuple[float, float, Harness]:
    """Precision and recall of the in-process resolver over the records cleansing accepts."""
    linked, refused, harness = in_process(data, processor)
    return *pairwise({ref: c for ref, c in data.truth.items() if ref not in refused}, linked), harness


def content(record: dict[str, Any]) -> dict[str, Any]:
    """A canonical record without what depends on how changes interleave (versions, the change that made it)."""
    return {k: v for k, v in record.items() if k not in ("version", "updated_at", "origin")}


@pytest.fixture(scope="module")
def data() -> DataSet:
    return companies()


@pytest.fixture(scope="module")
def fitted(data: DataSet) -> ProbabilisticRule:
    """The customer rule fitted on the live canonical records the deterministic rules make of the data set."""
    _, _, harness = in_process(data)
    return fit(harness.live("customer"), ProbabilisticRule()).rule


def test_deterministic_rules_never_merge_different_companies(data: DataSet) -> None:
    linked, refused, harness = in_process(data)
    flawed = {ref for ref, issue in harness.issues if issue.field == "country" and issue.action == "dropped"}
    assert refused and flawed, "a broken e-mail (a match field) refuses its row, a broken country is dropped"
    assert refused | flawed == data.invalid and not refused & flawed
    # a phone written nationally in a row whose country is broken is read in the default region, and dropped
    phones = {ref for ref, issue in harness.issues if issue.field == "phone" and issue.action == "dropped"}
    assert {ref for ref, _ in harness.issues} == flawed | phones and phones <= flawed
    truth = {ref: company for ref, company in data.truth.items() if ref not in refused}
    precision, recall = pairwise(truth, linked)
    report("in-process", precision, recall, data, len(harness.live("customer")))
    assert precision == 1.0
    assert recall > 0.5  # the data set keeps some duplicates unreachable by deterministic rules on purpose
    assert harness.suggestions, "the fuzzy rule suggests look-alikes for review"


@pytest.mark.slow
def test_on_the_real_stack_and_a_replay_rebuilds_the_same_records(
    data: DataSet, fitted: ProbabilisticRule, kafka: KafkaConfig, tmp_path: Path
) -> None:
    matching = probabilistic(fitted)
    expected, refused, harness = in_process(data, matching)
    publish(kafka, changes(data), key_column="id")
    topic = canonical_topic(kafka, "customer")
    serde = AvroSerde(kafka)

    def run(app_id: str) -> dict[str, dict[str, Any]]:
        """Run a processor with fresh state until its records are complete; the live records it wrote."""
        start = {partition: offset + 1 for _, partition, offset in map(record_position, read_to_end(kafka, topic))}
        config = tmp_path / f"{app_id}.yaml"
        processor = {**matching, "app_id": f"{kafka.topic_prefix}{app_id}", "metrics_port": free_port()}
        processor["data_dir"] = str(tmp_path / app_id)
        kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
        config.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": processor}))
        supervisor = Supervisor(config, tmp_path / "logs", {app_id: ["process"]})
        live: dict[str, dict[str, Any]] = {}

        def complete() -> bool:
            assert supervisor.crashed() == {}, supervisor.log_tail(app_id)
            live.clear()
            for message in read_to_end(kafka, topic):
                _, partition, offset = record_position(message)
                if offset < start.get(partition, 0):
                    continue
                key = serde.decode(topic, message.key(), key=True)
                value = serde.decode(topic, message.value())
                if value is None or value["deleted"]:
                    live.pop(key, None)
                else:
                    live[key] = value
            return {ref for record in live.values() for ref in record["links"]} == set(expected)

        supervisor.start(app_id)
        try:
            wait_until(complete, 240, f"processor {app_id} to link every valid record", interval=2.0)
        finally:
            supervisor.stop_all()
            shutil.rmtree(tmp_path / app_id, ignore_errors=True)
        return live

    first = run("first")
    predicted = {ref: gid for gid, record in first.items() for ref in record["links"]}
    assert predicted == expected  # the same links as the in-process resolver
    precision, recall = pairwise({r: c for r, c in data.truth.items() if r in predicted}, predicted)
    report("real stack, probabilistic", precision, recall, data, len(first))
    assert precision >= 0.995 and recall >= 0.90
    suggested = [
        serde.decode(suggestions_topic(kafka), m.value()) for m in read_to_end(kafka, suggestions_topic(kafka))
    ]
    # which pairs are suggested depends on the order changes arrive in (the golden records there are by then)
    scores = [s["score"] for s in suggested if s["rule"].startswith("probabilistic:")]
    assert scores and min(scores) >= fitted.lower
    dead = {message.key() for message in read_to_end(kafka, dlq_topic(kafka, "cleanse"))}
    assert len(dead) >= len(refused)
    reported = list(read_to_end(kafka, dq_topic(kafka, "customer")))  # a row may report its country and its phone
    assert len(reported) == len(harness.issues)

    replayed = run("replay")
    assert set(replayed) == set(first)

    assert {gid: content(r) for gid, r in replayed.items()} == {gid: content(r) for gid, r in first.items()}
    assert {r["id"] for r in harness.live("customer")} == set(first)


def test_the_shipped_default_weights_are_the_fit_on_this_data_set(fitted: ProbabilisticRule) -> None:
    assert [c.model_copy(update={"common": []}) for c in fitted.comparisons] == list(DEFAULT_COMPARISONS)
    # most Italian companies of the data set share one switchboard number: EM finds it too common to tell any apart
    assert {c.field: len(c.common) for c in fitted.comparisons if c.common} == {"phone": 1}


def test_probabilistic_matching_merges_what_rules_cannot_and_holds_on_a_held_apart_data_set(
    data: DataSet, fitted: ProbabilisticRule
) -> None:
    processor = probabilistic(fitted)
    precision, recall, harness = figures(data, processor)
    report("in-process, probabilistic", precision, recall, data, len(harness.live("customer")))
    assert precision >= 0.995 and recall >= 0.90
    held_apart = companies(HELD_APART_SEED)
    held_precision, held_recall, held_harness = figures(held_apart, processor)
    name = f"in-process, probabilistic, held-apart seed {HELD_APART_SEED}"
    report(name, held_precision, held_recall, held_apart, len(held_harness.live("customer")))
    assert abs(held_precision - precision) <= 0.02 and abs(held_recall - recall) <= 0.02
    suggested = [s for s in harness.suggestions if s["rule"].startswith("probabilistic:")]
    assert suggested, "pairs between the thresholds (same name and postcode, nothing else) are suggested"
    assert all(s["score"] >= fitted.lower for s in suggested)
    # above the upper threshold only when the pair agrees on nothing but name and place
    above = {s["rule"] for s in suggested if s["score"] >= fitted.upper}
    assert above and all(set(rule.split(":")[1].split("+")) <= WEAK for rule in above)
    assert all(s["candidate_id"] != s["id"] for s in suggested)


def test_golden_records_and_their_ids_do_not_depend_on_the_arrival_order(
    data: DataSet, fitted: ProbabilisticRule
) -> None:
    processor = probabilistic(fitted)
    expected, _, harness = in_process(data, processor)
    records = {r["id"]: content(r) for r in harness.live("customer")}
    for seed in (1, 2, 3):
        shuffled = changes(data)
        random.Random(seed).shuffle(shuffled)  # each change keeps its source time: only the arrival order differs
        linked, _, again = in_process(data, processor, shuffled)
        assert linked == expected
        assert {r["id"]: content(r) for r in again.live("customer")} == records
