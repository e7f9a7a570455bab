"""Resolution over several identity partitions, without Kafka: routing, referenced keys across partitions, and the
same canonical records as one partition gives, whatever order the partitions' batches run in."""

from __future__ import annotations

import pytest

from processors.cleanse import Cleansed
from processors.identity import born_id
from processors.routing import Routing, referenced_prefixes
from seamline.processor_config import ProcessorConfig
from tests.processors.fault_stream import fault_stream
from tests.processors.partitioned import PartitionedHarness
from tests.processors.test_processor_faults import difference
from tests.processors.test_resolve import CONFIG, account, erp


def change(source: str, key: str, op: str = "u", parent: str | None = None) -> Cleansed:
    system, obj = source.split(".", 1)
    entity = {"erp.customers": "customer", "erp.materials": "product"}.get(source, "sales_order")
    return Cleansed(entity, system, obj, key, op, {}, "", "", 0, "e", parent=parent)


def test_entities_that_link_records_resolve_in_a_partition_each_and_the_others_spread_by_header() -> None:
    routing = Routing(ProcessorConfig(**CONFIG), 4)
    assert routing.homes == {"customer": 0, "product": 1} and routing.spread == [2, 3]
    assert routing.partitions(change("erp.customers", "7")) == [0]
    assert routing.partitions(change("erp.materials", "m1")) == [1]
    orders = {key: routing.partitions(change("erp.orders", key)) for key in (f"o{n}" for n in range(40))}
    assert {partition for [partition] in orders.values()} == {2, 3}
    for key, partitions in orders.items():
        line = change("erp.order_lines", f"{key}-1", parent=f"erp.orders:{key}")
        assert routing.partitions(line) == partitions
    assert routing.partitions(change("erp.orders", "", op="t")) == [2, 3]
    assert routing.partitions(change("erp.customers", "", op="t")) == [0]


def test_with_one_partition_everything_resolves_in_it_and_with_too_few_entities_share() -> None:
    processor = ProcessorConfig(**CONFIG)
    assert Routing(processor, 1).partitions(change("erp.orders", "o1")) == [0]
    two = Routing(processor, 2)
    assert two.homes == {"customer": 0, "product": 1} and two.spread == [0, 1]


def test_a_decision_applies_in_its_entitys_partition_and_one_about_a_spread_entity_is_refused_once() -> None:
    routing = Routing(ProcessorConfig(**CONFIG), 4)
    assert [routing.decides("customer", "accept", partition) for partition in range(4)] == [True, False, False, False]
    with pytest.raises(ValueError, match="decision about sales_order, which links no records"):
        routing.decides("sales_order", "split", 2)
    assert not routing.decides("sales_order", "split", 3)
    assert Routing(ProcessorConfig(**CONFIG), 1).decides("sales_order", "split", 0)


def test_the_referenced_keys_are_those_the_mappings_look_up() -> None:
    assert referenced_prefixes(ProcessorConfig(**CONFIG)) == (
        "customer|email|",
        "product|sku|",
        "x:erp.customers:",
        "x:erp.materials:",
    )


def test_an_order_waits_in_its_partition_for_a_customer_resolved_in_another() -> None:
    h = PartitionedHarness(CONFIG, 4, seed=1)
    h.change("erp.orders", "o1", {"number": "SO-1", "customer": "7", "total": "4"})
    h.change("erp.order_lines", "o1-1", {"order": "o1", "line": 1, "material": "m1", "qty": "2"})
    h.drain()
    assert h.live("sales_order") == []
    h.change("erp.customers", "7", erp("Epsilon"))
    h.change("erp.materials", "m1", {"number": "SKU-1", "text": "Bolt"})
    h.drain()
    [order] = h.live("sales_order")
    assert order["customer_id"] == born_id("erp.customers:7")
    assert order["lines"] == [{"line_number": 1, "product_id": born_id("erp.materials:m1"), "quantity": "2.000"}]
    assert all(partition.resolver.held_count() == 0 for partition in h.partitions)


def test_a_merge_in_the_customers_partition_republishes_orders_in_another() -> None:
    h = PartitionedHarness(CONFIG, 4, seed=2)
    h.change("crm.Account", "001Q", account("Eta", vat="FR12345678901"))
    h.change("erp.customers", "9", erp("Eta SA", "eta@example.fr"))
    h.drain()
    h.change("shop.orders", "2001", {"name": "#2001", "email": "eta@example.fr", "items": []})
    h.change("erp.orders", "o9", {"number": "SO-9", "customer": "9", "total": "4"})
    h.drain()
    assert {order["customer_id"] for order in h.live("sales_order")} == {born_id("erp.customers:9")}
    h.change("erp.customers", "9", erp("Eta SA", "eta@example.fr", "FR 12345678901"))  # links the crm record
    h.drain()
    survivor = born_id("crm.Account:001Q")
    assert [record["id"] for record in h.live("customer")] == [survivor]
    assert [order["customer_id"] for order in h.live("sales_order")] == [survivor, survivor]
    h.change("erp.customers", "9", None)  # the authoritative system deletes the golden record
    h.drain()
    assert [order["customer_id"] for order in h.live("sales_order")] == [None, None]


@pytest.mark.parametrize("seed", range(4))
def test_any_order_of_the_partitions_batches_gives_the_records_of_one_partition(seed: int) -> None:
    processor, phases = fault_stream(seed=3, scale=1)
    h = PartitionedHarness(processor, 4, seed=seed, batch=1 + seed * 7)
    for phase in phases:
        for raw in phase.changes:
            h.change(raw.source, raw.key, raw.row, ts=raw.ts_ms)
        h.drain()
        assert difference(phase.expected, h.canonical) == []
