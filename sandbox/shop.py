"""A sample B2B web shop on Shopify: `orders/create` and `orders/updated` webhook payloads, and their sender.

Payloads follow Shopify's Order resource as its webhooks deliver it: id, name ("#1001"), email, created_at,
updated_at (ISO 8601 with offset), currency, total_price (a decimal string), financial_status, customer {id,
email, first_name, last_name}, billing_address {company, address1, zip, city, country, country_code} and
line_items [{id, sku, title, quantity, price}]. The buyers and SKUs can be drawn from the ERP's sample
data, so shop orders name the same customers (by e-mail) and products (by SKU) as the ERP.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from psycopg.rows import tuple_row

from sandbox.erp import COUNTRY_CODES
from sandbox.webhook_senders import deliver, shopify_headers

_COUNTRIES = {
    "DE": "Germany",
    "IT": "Italy",
    "FR": "France",
    "ES": "Spain",
    "BD": "Bangladesh",
    "CN": "China",
    "TW": "Taiwan",
}
_FINANCIAL = ("pending", "authorized", "paid", "partially_refunded", "refunded", "voided")


@dataclass(frozen=True)
class Buyer:
    """Who orders: an e-mail, a name, the billing company and address (ISO country code)."""

    email: str
    first_name: str
    last_name: str
    company: str
    address1: str
    zip: str
    city: str
    country_code: str


@dataclass(frozen=True)
class Item:
    """Something the shop sells: its SKU, title and unit price."""

    sku: str
    title: str
    price: Decimal


class Shop:
    """Makes Shopify order payloads from a seed; ids, order numbers and times only ever increase."""

    def __init__(self, buyers: Sequence[Buyer], items: Sequence[Item], seed: int = 7, currency: str = "EUR") -> None:
        if not buyers or not items:
            raise ValueError("a shop needs at least one buyer and one item")
        self.buyers, self.items, self.currency = list(buyers), list(items), currency
        self.rng = random.Random(seed)
        self.clock = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._next_id = 5_940_139_490_000
        self._number = 1000
        self._customers: dict[str, int] = {}
        self.orders: dict[int, dict[str, Any]] = {}

    def create(self) -> dict[str, Any]:
        """A new order (the `orders/create` payload)."""
        buyer = self.rng.choice(self.buyers)
        self._number += 1
        moment = self._tick()
        chosen = self.rng.sample(self.items, min(len(self.items), self.rng.randint(1, 3)))
        lines = [
            {
                "id": self._id(),
                "sku": item.sku,
                "title": item.title,
                "quantity": self.rng.randint(1, 20),
                "price": f"{item.price:.2f}",
            }
            for item in chosen
        ]
        order: dict[str, Any] = {
            "id": self._id(),
            "name": f"#{self._number}",
            "email": buyer.email,
            "created_at": moment,
            "updated_at": moment,
            "currency": self.currency,
            "total_price": _total(lines),
            "financial_status": "pending",
            "customer": {
                "id": self._customer_id(buyer.email),
                "email": buyer.email,
                "first_name": buyer.first_name,
                "last_name": buyer.last_name,
            },
            "billing_address": {
                "company": buyer.company,
                "address1": buyer.address1,
                "zip": buyer.zip,
                "city": buyer.city,
                "country": _COUNTRIES.get(buyer.country_code, buyer.country_code),
                "country_code": buyer.country_code,
            },
            "line_items": lines,
        }
        self.orders[order["id"]] = order
        return order

    def update(self, order_id: int | None = None) -> dict[str, Any]:
        """An `orders/updated` payload: the whole order with a new financial status or one line's quantity."""
        order_id = order_id if order_id is not None else self.rng.choice(sorted(self.orders))
        order = json.loads(json.dumps(self.orders[order_id]))
        if self.rng.random() < 0.5:
            order["financial_status"] = self.rng.choice(_FINANCIAL)
        else:
            line = self.rng.choice(order["line_items"])
            line["quantity"] = self.rng.randint(1, 20)
            order["total_price"] = _total(order["line_items"])
        order["updated_at"] = self._tick()
        self.orders[order_id] = order
        return order

    def _tick(self) -> str:
        self.clock += timedelta(minutes=self.rng.randint(1, 90))
        return self.clock.astimezone(UTC).isoformat()

    def _id(self) -> int:
        self._next_id += self.rng.randint(1, 97)
        return self._next_id

    def _customer_id(self, email: str) -> int:
        if email not in self._customers:
            self._customers[email] = 7_210_000_000 + len(self._customers) * 13
        return self._customers[email]


def _total(lines: list[dict[str, Any]]) -> str:
    return f"{sum(Decimal(line['price']) * line['quantity'] for line in lines):.2f}"


def body(order: dict[str, Any]) -> bytes:
    """The order as Shopify sends it: compact JSON, UTF-8."""
    return json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode()


def send(
    client: httpx.Client, path: str, secret: str, order: dict[str, Any], topic: str, delivery_id: str | None = None
) -> int:
    """POST one signed delivery (`orders/create` or `orders/updated`) until a 2xx; returns the attempts.

    Every retry carries the same X-Shopify-Webhook-Id, as Shopify's do.
    """
    payload, delivery = body(order), delivery_id or str(uuid.uuid4())
    return deliver(client, path, payload, lambda: shopify_headers(secret, payload, delivery, topic))


def buyers(conn: psycopg.Connection, limit: int = 100) -> list[Buyer]:
    """Shop buyers: ERP customers with a valid e-mail, billing to their ERP address."""
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT full_name, email, street, postcode, city, country_code FROM customers "
            "WHERE email NOT LIKE '%%@' AND street IS NOT NULL ORDER BY id LIMIT %s",
            (limit,),
        )
        .fetchall()
    )
    made = []
    for name, email, street, postcode, city, country in rows:
        first, _, last = " ".join(name.split()).rpartition(" ")
        assert isinstance(country, str), "the sample ERP gives every customer a country"
        code = COUNTRY_CODES.get(country, country)
        made.append(Buyer(email.lower(), first, last, " ".join(name.split()), street, postcode, city, code))
    return made


def items(conn: psycopg.Connection) -> list[Item]:
    """Shop items: the ERP's active materials, by material number (the SKU), at list price."""
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT material_number, description, list_price FROM materials WHERE active ORDER BY id")
        .fetchall()
    )
    return [Item(sku, text, price) for sku, text, price in rows]


def main() -> None:
    """`python -m sandbox.shop`: post signed orders/create and orders/updated webhooks for the ERP's customers."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the webhook source")
    parser.add_argument("--path", default="/shopify/orders")
    parser.add_argument("--erp-dsn", required=True, help="the sample ERP, for buyers and SKUs")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between deliveries")
    args = parser.parse_args()
    secret = os.environ.get("SHOPIFY_CLIENT_SECRET")
    if not secret:
        raise SystemExit("set SHOPIFY_CLIENT_SECRET to the secret of the shop endpoint")
    with psycopg.connect(args.erp_dsn) as conn:
        shop = Shop(buyers(conn), items(conn))
    with httpx.Client(base_url=args.url, timeout=30) as client:
        for number in range(args.orders):
            update = number and shop.rng.random() < 0.3
            order = shop.update() if update else shop.create()
            send(client, args.path, secret, order, "orders/updated" if update else "orders/create")
            print(f"{'updated' if update else 'created'} {order['name']}", flush=True)
            time.sleep(args.every)


if __name__ == "__main__":
    main()
