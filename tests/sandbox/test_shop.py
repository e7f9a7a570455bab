"""The sample shop's Shopify order webhooks: shaped as Shopify documents them, signed, and accepted by a receiver."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from decimal import Decimal

import httpx
import psycopg
import pytest

from producers.webhook.config import WebhookSource
from producers.webhook.receiver import WebhookReceiver
from producers.webhook.signatures import SignatureError, shopify_timestamp
from sandbox.shop import Buyer, Item, Shop, body, buyers, items, send
from sandbox.webhook_senders import shopify_headers
from seamline.config import KafkaConfig
from seamline.metrics import Metrics
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.topic_reader import read_to_end
from seamline.topics import source_topic
from tests.conftest import wait_until
from tests.sample_business import SECRETS, business_config
from tests.sandbox.erp_fixtures import filled_erp

BUYER = Buyer("giulia.rossi@example.com", "Giulia", "Rossi", "Rossi S.r.l.", "Via Roma 12", "20121", "Milano", "IT")
ITEMS = [Item("MAT-100001", "Kugellager 6204-2RS", Decimal("4.90")), Item("MAT-100002", "Schlauch", Decimal("12.30"))]


def test_order_payloads_have_shopifys_shape_and_are_seeded() -> None:
    shop = Shop([BUYER], ITEMS, seed=3)
    order = shop.create()
    assert set(order) == {
        "id", "name", "email", "created_at", "updated_at", "currency", "total_price", "financial_status",
        "customer", "billing_address", "line_items",
    }  # fmt: skip
    assert order["name"] == "#1001" and isinstance(order["id"], int) and isinstance(order["total_price"], str)
    assert order["customer"]["email"] == order["email"] == BUYER.email
    assert order["billing_address"] == {
        "company": "Rossi S.r.l.",
        "address1": "Via Roma 12",
        "zip": "20121",
        "city": "Milano",
        "country": "Italy",
        "country_code": "IT",
    }
    lines = order["line_items"]
    assert all(set(line) == {"id", "sku", "title", "quantity", "price"} for line in lines)
    assert Decimal(order["total_price"]) == sum(Decimal(line["price"]) * line["quantity"] for line in lines)
    updated = shop.update(order["id"])
    assert updated["id"] == order["id"] and updated["updated_at"] > order["updated_at"]
    assert updated["created_at"] == order["created_at"]
    assert Shop([BUYER], ITEMS, seed=3).create() == order


def test_buyers_and_items_come_from_the_erp(database: str) -> None:
    filled_erp(database)
    with psycopg.connect(database) as conn:
        erp_buyers, erp_items = buyers(conn), items(conn)
        emails = {row[0].lower() for row in conn.execute("SELECT email FROM customers")}
        skus = {row[0] for row in conn.execute("SELECT material_number FROM materials")}
    shop = Shop(erp_buyers, erp_items, seed=5)
    for _ in range(20):
        order = shop.create()
        assert order["email"] in emails
        assert {line["sku"] for line in order["line_items"]} <= skus
        assert len(order["billing_address"]["country_code"]) == 2


def test_payload_signature_verifies_with_the_shop_secret() -> None:
    payload = body(Shop([BUYER], ITEMS).create())
    headers = shopify_headers(SECRETS["SHOPIFY_CLIENT_SECRET"], payload, "delivery-1", "orders/create")
    secret = [SECRETS["SHOPIFY_CLIENT_SECRET"]]
    assert shopify_timestamp(headers, payload, secret, 300, time.time()) is not None
    with pytest.raises(SignatureError):
        shopify_timestamp(headers, payload + b" ", secret, 300, time.time())


def test_the_sample_configs_receiver_accepts_signed_orders(kafka: KafkaConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    shop_source = business_config(monkeypatch).sources["shop"]
    assert isinstance(shop_source, WebhookSource)
    port = free_port()
    receiver = WebhookReceiver(
        "shop", kafka, shop_source.model_copy(update={"port": port, "host": "127.0.0.1"}), Metrics.create()
    )
    loop, stop = asyncio.new_event_loop(), asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(receiver.serve(stop),))
    thread.start()
    try:
        shop = Shop([BUYER], ITEMS, seed=9)
        created = shop.create()
        updated = shop.update(created["id"])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until(lambda: _listening(client), 20, "the receiver to listen", interval=0.05)
            path, secret = "/shopify/orders", SECRETS["SHOPIFY_CLIENT_SECRET"]
            assert send(client, path, secret, created, "orders/create") == 1
            assert send(client, path, secret, updated, "orders/updated") == 1
            with pytest.raises(RuntimeError, match="401"):
                send(client, path, "not-the-secret", created, "orders/create")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
    topic = source_topic(kafka, "shop", "orders")
    serde = AvroSerde(kafka)
    events = [serde.decode(topic, message.value()) for message in read_to_end(kafka, topic)]
    assert [(event["op"], event["after"]["id"]) for event in events] == [("u", str(created["id"]))] * 2
    after = events[1]["after"]
    assert after["financial_status"] == updated["financial_status"] and after["name"] == "#1001"
    assert [line["sku"] for line in json.loads(after["line_items"])] == [line["sku"] for line in updated["line_items"]]


def _listening(client: httpx.Client) -> bool:
    try:
        client.get("/")
        return True
    except httpx.TransportError:
        return False
