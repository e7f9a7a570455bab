"""Canonical customers and sales orders for sink tests, and a publisher of them to a test's canonical topics."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from seamline.config import KafkaConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topics import canonical_topic

Change = tuple[str, str, dict[str, Any] | None]
"""(entity, golden id, canonical record or None for a tombstone)."""


def customer(number: int, version: int, *, deleted: bool = False) -> dict[str, Any]:
    """Version `version` of customer c<number>; its name says the version."""
    return {
        "id": f"c{number}",
        "version": version,
        "name": f"Customer {number} v{version}",
        "deleted": deleted,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.customers:{number}"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def person(number: int, version: int, **values: Any) -> dict[str, Any]:
    """Customer c<number> as a person in Milano with an e-mail address, as the SaaS sinks write them."""
    return customer(number, version) | {"email": f"customer{number}@example.com", "city": "Milano"} | values


def customer_changes(*records: dict[str, Any] | tuple[str, None]) -> list[Change]:
    """Changes of the customer topic: each record, or a tombstone for (golden id, None)."""
    return [
        ("customer", record[0], None) if isinstance(record, tuple) else ("customer", record["id"], record)
        for record in records
    ]


def order(number: int, version: int) -> dict[str, Any]:
    """Version `version` of order o<number> of customer c<number>, with `version` lines of quantity `version`."""
    lines = [{"line_number": n, "product_id": f"p{n}", "quantity": Decimal(version)} for n in range(1, version + 1)]
    return {
        "id": f"o{number}",
        "version": version,
        "order_number": f"SO-{number}",
        "customer_id": f"c{number}",
        "order_date": datetime(2026, 1, 5, tzinfo=UTC),
        "total_amount": Decimal("10.5000"),
        "lines": lines,
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.sales_orders:{number}"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def product(number: int, version: int) -> dict[str, Any]:
    """Version `version` of product p<number>; its price says the version."""
    return {
        "id": f"p{number}",
        "version": version,
        "sku": f"SKU-{number}",
        "name": f"Product {number}",
        "unit": "pcs",
        "list_price": Decimal(f"{version}.5000"),
        "currency": "EUR",
        "active": True,
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.materials:{number}"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def stock(number: int, version: int) -> dict[str, Any]:
    """Version `version` of the stock of product p<number> in plant 1000: `version` on hand."""
    return {
        "id": f"s{number}",
        "version": version,
        "product_id": f"p{number}",
        "location": "1000",
        "quantity_on_hand": Decimal(version),
        "quantity_reserved": Decimal(0),
        "unit": "pcs",
        "deleted": False,
        "xrefs": {"erp": f"{number}/1000"},
        "links": [f"erp.stock:{number}/1000"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def mixed_history() -> list[Change]:
    """Several versions of 60 customers (every sixth deleted, then tombstoned), 30 products, orders, stock."""
    changes: list[Change] = []
    for number in range(60):
        changes += [("customer", f"c{number}", customer(number, version)) for version in (1, 2, 3)]
        if number % 6 == 0:
            changes += [("customer", f"c{number}", customer(number, 4, deleted=True)), ("customer", f"c{number}", None)]
    for number in range(30):
        changes += [("product", f"p{number}", product(number, version)) for version in (1, 2)]
        changes += [("sales_order", f"o{number}", order(number, version)) for version in (1, 3)]
        changes += [("inventory_level", f"s{number}", stock(number, version)) for version in (2, 1)]
    return changes


def publish(kafka: KafkaConfig, changes: Iterable[Change]) -> int:
    """Send the changes, in this order, to the canonical topics; how many were sent."""
    serde, publisher, sent = AvroSerde(kafka), Publisher(kafka), 0
    for entity, key, value in changes:
        topic = canonical_topic(kafka, entity)
        encoded = None if value is None else serde.encode(topic, value)
        publisher.send(topic, encoded, key=serde.encode(topic, key, key=True))
        sent += 1
    publisher.flush()
    publisher.close()
    return sent
