"""The http sink against the S/4HANA simulation over real HTTP: mapped writes of all four entities, the
version guard under redelivery and shuffling, loop prevention, rejects, auth and the circuit breaker."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

import sandbox.s4hana
import sinks.http.circuit
from sandbox.s4hana import ROOT, S4HanaSim
from seamline.connectors.sink import SinkRecord, TargetFailing
from seamline.metrics import Metrics
from seamline.retry import ServerUnavailable
from sinks.http.config import HttpSink
from sinks.http.target import HttpTarget
from tests.clock import Clock
from tests.sinks.canonical_records import customer, order, product, stock

PARTNERS = "API_BUSINESS_PARTNER/A_BusinessPartner"
ORDERS = "API_SALES_ORDER_SRV/A_SalesOrder"
PRODUCTS = "API_PRODUCT_SRV/A_Product"
STOCK = "YY1_STOCKLEVEL_CDS/YY1_StockLevel"


def s4_config(sim: S4HanaSim, **overrides: Any) -> HttpSink:
    """The http sink pointed at the simulation, as a user would write it for S/4HANA."""

    def entity(path: str, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "collection": f"/{path}",
            "item": f"/{path}('{{key}}')",
            "key_field": key,
            "version_field": "YY1_SeamlineVersion",
            "fields": {key: "id", "YY1_SeamlineVersion": "version", **fields},
        }

    settings: dict[str, Any] = {
        "kind": "http",
        "base_url": f"{sim.url}{ROOT}",
        "auth": {"kind": "basic", "user": sim.user, "password": sim.password},
        "format": "odata_v2",
        "csrf_path": "/API_BUSINESS_PARTNER/",
        "system": "erp",
        "timeout_s": 2,
        "circuit_cool_down_s": 0.5,
        "entities": {
            "customer": entity(
                PARTNERS, "BusinessPartner", {"BusinessPartnerFullName": "name", "YY1_ErpNumber": "xrefs.erp"}
            ),
            "product": entity(PRODUCTS, "Product", {"ProductName": "name", "YY1_ListPrice": "list_price"}),
            "sales_order": entity(
                ORDERS,
                "SalesOrder",
                {
                    "SoldToParty": "customer_id",
                    "SalesOrderDate": "order_date",
                    "to_Item": {
                        "each": "lines",
                        "fields": {
                            "SalesOrderItem": {"cast": "text", "column": "line_number"},
                            "Material": "product_id",
                            "RequestedQuantity": "quantity",
                        },
                    },
                },
            ),
            "inventory_level": entity(
                STOCK, "StockLevel", {"Product": "product_id", "Plant": "location", "OnHand": "quantity_on_hand"}
            ),
        },
    }
    settings.update(overrides)
    return HttpSink.model_validate(settings)


@pytest.fixture
def sim() -> Iterator[S4HanaSim]:
    with S4HanaSim() as running:
        yield running


def target_for(config: HttpSink, metrics: Metrics | None = None) -> HttpTarget:
    target = HttpTarget("erp", config, metrics or Metrics.create())
    target.setup()
    return target


def rec(entity: str, value: dict[str, Any] | None, gid: str | None = None) -> SinkRecord:
    return SinkRecord(entity, gid or str(value["id"] if value else ""), value, "topic", 0, 0, None, None)


def test_all_four_entities_are_created_updated_and_deleted_with_their_mapped_fields(sim: S4HanaSim) -> None:
    target = target_for(s4_config(sim))
    batch = [
        rec("customer", customer(1, 1)),
        rec("product", product(1, 1)),
        rec("sales_order", order(1, 2)),
        rec("inventory_level", stock(1, 1)),
    ]
    assert target.write(batch).rejected == []
    assert sim.entity(PARTNERS, "c1") == {
        "BusinessPartner": "c1",
        "YY1_SeamlineVersion": 1,
        "BusinessPartnerFullName": "Customer 1 v1",
        "YY1_ErpNumber": "1",
    }
    assert sim.entity(PRODUCTS, "p1") == {
        "Product": "p1",
        "YY1_SeamlineVersion": 1,
        "ProductName": "Product 1",
        "YY1_ListPrice": "1.5000",
    }
    sales_order = sim.entity(ORDERS, "o1")
    assert sales_order is not None
    assert sales_order["SoldToParty"] == "c1" and sales_order["SalesOrderDate"] == "/Date(1767571200000)/"
    assert sales_order["to_Item"] == {
        "results": [
            {"SalesOrderItem": "1", "Material": "p1", "RequestedQuantity": "2"},
            {"SalesOrderItem": "2", "Material": "p2", "RequestedQuantity": "2"},
        ]
    }
    assert sim.entity(STOCK, "s1") == {
        "StockLevel": "s1",
        "YY1_SeamlineVersion": 1,
        "Product": "p1",
        "Plant": "1000",
        "OnHand": "1",
    }
    target.write([rec("customer", customer(1, 2)), rec("sales_order", order(1, 3))])
    assert sim.entity(PARTNERS, "c1")["BusinessPartnerFullName"] == "Customer 1 v2"  # type: ignore[index]
    assert len(sim.entity(ORDERS, "o1")["to_Item"]["results"]) == 3  # type: ignore[index]
    target.write([rec("customer", customer(1, 3, deleted=True)), rec("customer", None, "c1")])
    assert sim.entity(PARTNERS, "c1") is None
    assert [(w.method, w.key) for w in sim.writes if w.entity_set == PARTNERS] == [
        ("POST", "c1"),
        ("PATCH", "c1"),
        ("DELETE", "c1"),
    ]
    target.close()


def test_redelivery_and_shuffled_versions_end_at_the_highest_without_second_effects(sim: S4HanaSim) -> None:
    target = target_for(s4_config(sim, concurrency=8))
    versions = [rec("customer", customer(n, v)) for n in range(20) for v in (1, 2, 3)]
    random.Random(5).shuffle(versions)
    for start in range(0, len(versions), 7):
        target.write(versions[start : start + 7])
    assert {key: e["YY1_SeamlineVersion"] for key, e in sim.entities(PARTNERS).items()} == {
        f"c{n}": 3 for n in range(20)
    }
    executed = len(sim.writes)
    for start in range(0, len(versions), 7):
        outcome = target.write(versions[start : start + 7])
        assert outcome.rejected == []
    assert len(sim.writes) == executed, "a redelivery executes no write"
    written = [(w.key, w.body["YY1_SeamlineVersion"]) for w in sim.writes if w.body]
    for key in {k for k, _ in written}:
        applied = [v for k, v in written if k == key]
        assert applied == sorted(set(applied)), f"{key}: versions applied {applied}, each once and increasing"
    target.close()


def test_a_version_whose_values_came_from_the_erp_is_not_written_back(sim: S4HanaSim) -> None:
    target = target_for(s4_config(sim))
    target.write([rec("customer", {**customer(7, 1), "origin": "crm"})])
    echo = {**customer(7, 2), "name": "Customer 7 v1"}  # the ERP's own change, holding what the ERP has
    outcome = target.write([rec("customer", echo)])
    assert [r.id for r in outcome.unchanged] == ["c7"]
    assert [w.method for w in sim.writes] == ["POST"]
    changed = {**customer(7, 3), "origin": "crm"}
    target.write([rec("customer", changed)])
    assert [w.method for w in sim.writes] == ["POST", "PATCH"]
    target.close()


def test_a_record_the_erp_refuses_is_rejected_alone_without_its_values(sim: S4HanaSim) -> None:
    sim.reject(
        lambda _set, body: (
            f"Name {body['BusinessPartnerFullName']} is blocked" if body.get("YY1_ErpNumber") == "3" else None
        )
    )
    target = target_for(s4_config(sim))
    outcome = target.write([rec("customer", customer(n, 1)) for n in range(1, 6)])
    assert [r.record.id for r in outcome.rejected] == ["c3"]
    (rejected,) = outcome.rejected
    assert rejected.error_class == "HTTP400"
    assert (
        rejected.reason
        == "HTTP 400 from POST /API_BUSINESS_PARTNER/A_BusinessPartner: ZSEAMLINE/001 Name <value> is blocked"
    )
    assert set(sim.entities(PARTNERS)) == {"c1", "c2", "c4", "c5"}
    target.close()


def test_oauth_client_credentials_and_an_expired_token_refreshed_once(sim: S4HanaSim) -> None:
    auth = {
        "kind": "oauth2",
        "token_url": f"{sim.url}/oauth/token",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    target = target_for(s4_config(sim, auth=auth))
    target.write([rec("customer", customer(1, 1))])
    sim._tokens.clear()  # every token the tenant issued expires
    target.write([rec("customer", customer(1, 2))])
    assert sim.entity(PARTNERS, "c1")["YY1_SeamlineVersion"] == 2  # type: ignore[index]
    target.close()


def test_refused_credentials_fail_the_whole_batch_until_the_target_takes_them(sim: S4HanaSim) -> None:
    target = target_for(s4_config(sim))
    sim.password = "rotated"
    with pytest.raises(TargetFailing) as failing:
        target.write([rec("customer", customer(n, 1)) for n in range(3)])
    assert str(failing.value) == (
        "HTTP 401 from GET /API_BUSINESS_PARTNER/A_BusinessPartner('{key}'): /IWFND/CM_CONSUMER/101 Logon failed: "
        "fix the sink's auth (user and password, token, or client id and secret)"
    )
    sim.password = "seamline-password"
    assert target.write([rec("customer", customer(n, 1)) for n in range(3)]).rejected == []
    assert len(sim.entities(PARTNERS)) == 3
    target.close()


def test_a_collection_the_target_does_not_have_fails_the_batch_instead_of_rejecting_its_records(
    sim: S4HanaSim,
) -> None:
    config = s4_config(sim).model_dump(mode="json")
    config["entities"]["customer"] |= {"collection": "/API_BUSINESS_PARTNER/A_Partners"}
    config["auth"]["password"] = sim.password  # dumped masked
    target = target_for(HttpSink.model_validate(config))
    with pytest.raises(TargetFailing) as failing:
        target.write([rec("customer", customer(n, 1)) for n in range(3)])
    assert failing.value.problem.startswith("HTTP 404 from POST /API_BUSINESS_PARTNER/A_Partners")
    assert failing.value.fix == "fix the sink's base_url or the entity's collection and item paths"
    assert sim.entities(PARTNERS) == {}
    target.close()


def test_transient_answers_fail_the_batch_and_the_circuit_opens_then_closes(
    sim: S4HanaSim, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.install(monkeypatch, sandbox.s4hana, sinks.http.circuit)  # the outage's end and the cool-down's
    metrics = Metrics.create()
    target = target_for(s4_config(sim, circuit_failures=2), metrics)
    gauge = {"sink": "erp"}
    sim.outage(0.8)
    with pytest.raises(ServerUnavailable):
        target.write([rec("customer", customer(n, 1)) for n in range(4)])
    assert metrics.registry.get_sample_value("seamline_sink_circuit_open", gauge) == 1
    calls = sim.calls
    with pytest.raises(ServerUnavailable, match="circuit open"):
        target.write([rec("customer", customer(1, 1))])
    assert sim.calls == calls, "an open circuit holds calls back"
    clock.sleep(1.0)
    assert target.write([rec("customer", customer(n, 1)) for n in range(4)]).rejected == []
    assert metrics.registry.get_sample_value("seamline_sink_circuit_open", gauge) == 0
    assert len(sim.entities(PARTNERS)) == 4
    target.close()


def test_mapping_rules_must_read_canonical_fields_and_map_the_version(sim: S4HanaSim) -> None:
    config = s4_config(sim).model_dump(mode="json")
    config["entities"]["customer"]["fields"]["YY1_SeamlineVersion"] = "updated_at"
    config["auth"]["password"] = sim.password
    with pytest.raises(ValidationError, match="map 'YY1_SeamlineVersion' from version"):
        HttpSink.model_validate(config)
    config["entities"]["customer"]["fields"]["YY1_SeamlineVersion"] = "version"
    config["entities"]["customer"]["fields"]["Phone"] = "telephone"
    with pytest.raises(ValidationError, match="customer has no field 'telephone' to read"):
        HttpSink.model_validate(config)


@pytest.mark.parametrize("key", ["O'Brien", "a/../b", "x')/A_BusinessPartner('victim", "//evil.example/x", "50%?#"])
def test_a_key_with_path_characters_reaches_its_own_record_only(sim: S4HanaSim, key: str) -> None:
    target = target_for(s4_config(sim))
    victim = {**customer(9, 1), "id": "victim"}
    assert target.write([rec("customer", victim)]).rejected == []
    record = {**customer(1, 1), "id": key}
    assert target.write([rec("customer", record)]).rejected == []
    target.write([rec("customer", {**record, "version": 2, "name": "changed"})])
    assert sim.entity(PARTNERS, key)["BusinessPartnerFullName"] == "changed"  # type: ignore[index]
    assert sim.entity(PARTNERS, "victim") == {
        "BusinessPartner": "victim",
        "YY1_SeamlineVersion": 1,
        "BusinessPartnerFullName": "Customer 9 v1",
        "YY1_ErpNumber": "9",
    }
