"""The salesforce sink against the Salesforce simulation over real HTTP: all four entities upserted by external id,
the version guard under redelivery and shuffling, deletes, per-record refusals, token refresh, outages, chunking,
API usage pacing, loop prevention and setup checks."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from producers.salesforce.config import SalesforceSource
from sandbox.salesforce import SalesforceSim
from seamline.config import KafkaConfig
from seamline.connectors.registry import sink_kind
from seamline.connectors.sink import SinkRecord, TargetFailing
from seamline.dead_letters.writer import read_headers
from seamline.metrics import Metrics
from seamline.retry import ServerUnavailable
from seamline.salesforce_api import SalesforceApi
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from sinks.runner import SinkRunner
from sinks.salesforce import sobject_collections
from sinks.salesforce.config import SalesforceSink
from sinks.salesforce.target import SalesforceTarget
from tests.clock import Clock
from tests.conftest import wait_until
from tests.sinks.canonical_records import customer, order, product, publish, stock


def sf_config(sim: SalesforceSim, **overrides: Any) -> SalesforceSink:
    """The salesforce sink pointed at the simulation, as a user would write it."""
    settings: dict[str, Any] = {
        "kind": "salesforce",
        "login_url": sim.url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "timeout_s": 5,
        "entities": {
            "customer": {"sobject": "Account", "fields": {"Name": "name", "ERP_Customer_Number__c": "xrefs.erp"}},
            "product": {"sobject": "Product2", "fields": {"Name": "name", "ProductCode": "sku", "IsActive": "active"}},
            "sales_order": {
                "sobject": "Opportunity",
                "fields": {
                    "Name": "order_number",
                    "CloseDate": {"cast": "date", "column": "order_date"},
                    "Amount": "total_amount",
                    "StageName": {"constant": "Closed Won"},
                },
            },
            "inventory_level": {
                "sobject": "Inventory_Level__c",
                "fields": {
                    "Name": "id",
                    "Product_Code__c": "product_id",
                    "Location__c": "location",
                    "Quantity_On_Hand__c": "quantity_on_hand",
                },
            },
        },
    }
    settings.update(overrides)
    return SalesforceSink.model_validate(settings)


@pytest.fixture
def sim(clock: Clock) -> Iterator[SalesforceSim]:
    """The simulation; the sink's retries (of 503s, after a refreshed token) wait on the test's clock."""
    with SalesforceSim() as running:
        yield running


def target_for(config: SalesforceSink) -> SalesforceTarget:
    target = SalesforceTarget("crm", config)
    target.setup()
    return target


def rec(entity: str, value: dict[str, Any] | None, gid: str | None = None) -> SinkRecord:
    return SinkRecord(entity, gid or str(value["id"] if value else ""), value, "topic", 0, 0, None, None)


def held(sim: SalesforceSim, obj: str, key: str) -> dict[str, Any]:
    found = sim.find(obj, "Seamline_Id__c", key)
    assert found is not None, f"{obj} {key} is in the org"
    return found


def test_all_four_entities_are_upserted_with_their_mapped_fields_and_deleted(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    batch = [
        rec("customer", customer(1, 1)),
        rec("product", product(1, 1)),
        rec("sales_order", order(1, 2)),
        rec("inventory_level", stock(1, 1)),
    ]
    assert target.write(batch).rejected == []
    account = held(sim, "Account", "c1")
    assert (account["Name"], account["ERP_Customer_Number__c"], account["Seamline_Version__c"]) == (
        "Customer 1 v1",
        "1",
        1,
    )
    item = held(sim, "Product2", "p1")
    assert (item["Name"], item["ProductCode"], item["IsActive"]) == ("Product 1", "SKU-1", True)
    deal = held(sim, "Opportunity", "o1")
    assert (deal["Name"], deal["CloseDate"], deal["Amount"], deal["StageName"]) == (
        "SO-1",
        date(2026, 1, 5).isoformat(),
        10.5,
        "Closed Won",
    )
    level = held(sim, "Inventory_Level__c", "s1")
    assert (level["Product_Code__c"], level["Location__c"], level["Quantity_On_Hand__c"]) == ("p1", "1000", 1)
    assert [r.split("?")[0] for r in sim.requests if r.startswith("PATCH")] == [
        f"PATCH /services/data/v60.0/composite/sobjects/{obj}/Seamline_Id__c"
        for obj in ("Account", "Product2", "Opportunity", "Inventory_Level__c")
    ]
    target.write([rec("customer", customer(1, 2))])
    assert held(sim, "Account", "c1")["Name"] == "Customer 1 v2"
    target.write([rec("customer", customer(1, 3, deleted=True)), rec("customer", None, "c1")])
    target.write([rec("product", None, "p1")])
    assert sim.find("Account", "Seamline_Id__c", "c1") is None and sim.find("Product2", "Seamline_Id__c", "p1") is None
    assert [w.method for w in sim.writes if w.object == "Account"] == ["PATCH", "PATCH", "PATCH", "DELETE"]
    target.write([rec("customer", customer(1, 2))])
    assert sim.find("Account", "Seamline_Id__c", "c1") is None, "an older version does not bring it back"
    target.close()


def test_redelivery_and_shuffled_versions_end_at_the_highest_without_second_effects(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    versions = [rec("customer", customer(n, v)) for n in range(20) for v in (1, 2, 3)]
    random.Random(5).shuffle(versions)
    for start in range(0, len(versions), 7):
        assert target.write(versions[start : start + 7]).rejected == []
    assert sorted((r["Seamline_Id__c"], r["Seamline_Version__c"], r["Name"][-2:]) for r in sim.live("Account")) == (
        sorted((f"c{n}", 3, "v3") for n in range(20))
    )
    written = len(sim.writes)
    for start in range(0, len(versions), 7):
        outcome = target.write(versions[start : start + 7])
        assert outcome.rejected == [] and len(outcome.unchanged) == len(versions[start : start + 7])
    assert len(sim.writes) == written, "a redelivery writes nothing"
    applied: dict[str, list[int]] = {}
    for write in sim.writes:
        applied.setdefault(write.id, []).append(write.fields["Seamline_Version__c"])
    assert all(v == sorted(set(v)) for v in applied.values()), "versions applied once each, increasing"
    target.close()


def test_a_record_salesforce_refuses_is_rejected_alone_without_its_values(sim: SalesforceSim) -> None:
    sim.validate(
        lambda obj, record: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", f"Name {record['Name']} is blocked", ["Name"])
            if record["ERP_Customer_Number__c"] == "3"
            else None
        )
    )
    target = target_for(sf_config(sim))
    outcome = target.write([rec("customer", customer(n, 1)) for n in range(1, 6)])
    (rejected,) = outcome.rejected
    assert rejected.record.id == "c3" and rejected.error_class == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert rejected.reason == (
        "Salesforce refused the upsert of Account: FIELD_CUSTOM_VALIDATION_EXCEPTION: Name <value> is blocked [Name]"
    )
    assert sorted(r["Seamline_Id__c"] for r in sim.live("Account")) == ["c1", "c2", "c4", "c5"]
    target.close()


def test_an_expired_token_is_refreshed_once_and_nothing_is_lost(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    target.write([rec("customer", customer(1, 1))])
    sim.expire_tokens()
    target.write([rec("customer", customer(1, 2)), rec("customer", customer(2, 1))])
    assert {r["Seamline_Id__c"]: r["Seamline_Version__c"] for r in sim.live("Account")} == {"c1": 2, "c2": 1}
    assert len(sim._tokens) == 1, "one new token for the whole batch"
    sim.expire_tokens()
    sim.fail_next(1)  # the call after the refresh fails too: retried, then the batch goes on
    target.write([rec("customer", customer(1, 3))])
    assert held(sim, "Account", "c1")["Seamline_Version__c"] == 3 and len(sim._tokens) == 1
    target.close()


def test_a_whole_call_refused_or_credentials_refused_fail_the_batch_until_fixed(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    sim.fail_next(1, 403)
    with pytest.raises(TargetFailing, match="Salesforce refuses whole calls: HTTP 403 SERVER_UNAVAILABLE"):
        target.write([rec("customer", customer(1, 1))])
    secret, sim.client_secret = sim.client_secret, "rotated"
    sim.expire_tokens()
    with pytest.raises(TargetFailing) as failing:
        target.write([rec("customer", customer(1, 1))])
    assert failing.value.problem == f"Salesforce at {sim.url} refused the client credentials of sink crm"
    assert failing.value.fix.startswith("check client_id and client_secret")
    assert sim.live("Account") == []
    sim.client_secret = secret
    assert target.write([rec("customer", customer(1, 1))]).rejected == []
    assert held(sim, "Account", "c1")["Seamline_Version__c"] == 1
    target.close()


def test_503s_on_reads_are_retried_and_more_than_200_records_take_several_calls(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    sim.fail_next(2)
    assert target.write([rec("customer", customer(n, 1)) for n in range(450)]).rejected == []
    assert len(sim.live("Account")) == 450
    assert len([r for r in sim.requests if r.startswith("PATCH")]) == 3
    reads = [parse_qs(urlsplit(r.split(" ", 1)[1]).query)["q"][0] for r in sim.requests if "/queryAll?" in r]
    assert len(reads) > 3 and all(len(q.split(" WHERE ", 1)[1]) <= 4000 for q in reads), "WHERE within SOQL's limit"
    target.close()


def test_a_write_call_answering_503_or_429_fails_the_batch_for_the_runner(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    for status in (503, 429):
        sim.fail_next(1, status)
        with pytest.raises(ServerUnavailable, match=f"answered {status}"):
            target.api.upsert("Account", "Seamline_Id__c", [{"Seamline_Id__c": "c1", "Name": "A"}])
    assert sim.live("Account") == [] and sim.writes == []
    target.close()


def test_a_spent_daily_api_limit_is_a_transient_failure_with_a_long_wait() -> None:
    with SalesforceSim(api_limit=3) as sim:
        config = sf_config(sim).model_dump(mode="json")
        config["client_secret"] = sim.client_secret
        config["entities"] = {"customer": config["entities"]["customer"]}
        config["usage_pause_s"] = 0
        target = target_for(SalesforceSink.model_validate(config))  # call 1: describe
        target.write([rec("customer", customer(1, 1))])  # calls 2 and 3: read, upsert
        with pytest.raises(ServerUnavailable, match="daily API limit reached") as raised:
            target.write([rec("customer", customer(1, 2))])
        assert raised.value.retry_after_s == 300
        assert held(sim, "Account", "c1")["Seamline_Version__c"] == 1
        target.close()


def test_what_the_sink_writes_comes_back_through_the_salesforce_source_reads(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    target.write([rec("customer", customer(4, 1))])
    source = SalesforceSource(
        kind="salesforce",
        login_url=sim.url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        objects=["Account"],
    )
    reader = SalesforceApi("crm", source)
    reader.login()
    page = reader.query("SELECT Id, Name, Seamline_Id__c, SystemModstamp FROM Account ORDER BY SystemModstamp")
    assert [(r["Name"], r["Seamline_Id__c"]) for r in page.records] == [("Customer 4 v1", "c4")]
    reader.close()
    target.close()


def test_a_crm_version_whose_values_salesforce_holds_is_not_written_back(sim: SalesforceSim) -> None:
    target = target_for(sf_config(sim))
    target.write([rec("customer", customer(7, 1))])
    account = held(sim, "Account", "c7")
    sim.update("Account", account["Id"], {"Name": "Renamed in the CRM"})
    echo = {**customer(7, 2), "name": "Renamed in the CRM", "origin": "crm"}  # the CRM's own change, back again
    outcome = target.write([rec("customer", echo)])
    assert [r.id for r in outcome.unchanged] == ["c7"]
    assert len(sim.writes) == 1, "no call writes the echo"
    changed = {**customer(7, 3), "origin": "crm"}
    target.write([rec("customer", changed)])
    assert len(sim.writes) == 2 and held(sim, "Account", "c7")["Name"] == "Customer 7 v3"
    target.close()


def test_calls_slow_down_above_the_configured_share_of_the_daily_limit(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.install(monkeypatch, sobject_collections)  # the pauses between calls
    with SalesforceSim(api_limit=10) as sim:
        target = target_for(sf_config(sim, usage_slowdown_fraction=0.5, usage_pause_s=0.3))
        started = clock.monotonic()
        target.write([rec("customer", customer(1, 1))])  # calls 4 and 5 of 10: below the share
        fast = clock.monotonic() - started
        started = clock.monotonic()
        target.write([rec("customer", customer(1, 2))])  # calls 6 and 7: each waits first
        assert clock.monotonic() - started >= 0.6 > fast
        target.close()


def test_setup_stops_with_one_line_for_bad_credentials_objects_and_fields(sim: SalesforceSim) -> None:
    with pytest.raises(PermissionError, match="refused the client credentials: check client_id and client_secret"):
        target_for(sf_config(sim, client_secret="wrong"))
    config = sf_config(sim).model_dump(mode="json")
    config["client_secret"] = sim.client_secret
    config["entities"]["customer"]["sobject"] = "Acount"
    with pytest.raises(PermissionError, match="'Acount' is not an sObject visible to this client"):
        target_for(SalesforceSink.model_validate(config))
    config["entities"]["customer"] = {"sobject": "Account", "fields": {"Nmae": "name"}}
    with pytest.raises(PermissionError, match="Account has no field 'Nmae' visible to this client"):
        target_for(SalesforceSink.model_validate(config))
    config["entities"]["customer"] = {"sobject": "Account", "fields": {"Seamline_Id__c": "id"}}
    with pytest.raises(ValidationError, match="remove 'Seamline_Id__c' from `fields`"):
        SalesforceSink.model_validate(config)


def test_under_its_runner_a_refused_record_goes_alone_to_the_dlq_and_outages_lose_nothing(kafka: KafkaConfig) -> None:
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(20)])
    metrics = Metrics.create()
    with SalesforceSim() as sim:
        sim.validate(
            lambda obj, record: (
                ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "VAT check failed", [])
                if record["Seamline_Id__c"] == "c13"
                else None
            )
        )
        config = sf_config(sim)
        runner = SinkRunner(
            "crm",
            kafka,
            sink_kind("salesforce").open("crm", config, metrics),
            config.entities_written,
            metrics,
            f"{kafka.topic_prefix}crm",
        )
        worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
        worker.start()
        try:
            wait_until(lambda: len(sim.live("Account")) == 19, 60, "19 accounts written")
            sim.expire_tokens()
            sim.fail_next(3)
            publish(kafka, [("customer", f"c{n}", customer(n, 2)) for n in range(20)])
            wait_until(
                lambda: sorted(r["Seamline_Version__c"] for r in sim.live("Account")) == [2] * 19,
                90,
                "every account at version 2 after a token expiry and an outage",
            )
        finally:
            runner.stop()
            worker.join(60)
    (letter, second) = list(read_to_end(kafka, dlq_topic(kafka, "sink.crm")))
    for dead in (letter, second):
        headers = read_headers(dead.headers())
        assert headers["error.class"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        assert headers["error.reason"] == (
            "Salesforce refused the upsert of Account: FIELD_CUSTOM_VALIDATION_EXCEPTION: VAT check failed"
        )
    assert sim.find("Account", "Seamline_Id__c", "c13") is None
