"""examples/business.yaml validates, and every mapping's field rules map a real sample row of its object."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr

from producers.postgres_cdc.config import PostgresCdcSource
from producers.postgres_cdc.source import PostgresCdc
from producers.salesforce.sf_types import typed_row
from producers.webhook.config import WebhookSource
from producers.webhook.payloads import json_change
from sandbox.business import crm_from_erp
from sandbox.erp_orders import OrderBook, OrderStream
from sandbox.salesforce import SalesforceSim
from sandbox.salesforce_objects import field_types
from sandbox.shop import Buyer, Item, Shop, body
from sandbox.webhook_senders import shopify_headers
from seamline.connectors.source import Checkpoint
from seamline.events import Change
from seamline.mapping import map_row
from seamline.metrics import Metrics
from seamline.operations.local_pipeline import drop_slot
from seamline.stack import StackInfo
from tests.producers.draining import idle, take
from tests.sample_business import CONFIG, SECRETS, business_config
from tests.sandbox.erp_fixtures import filled_erp


def test_seamline_validate_accepts_the_sample_config() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "seamline", "validate", str(CONFIG)],
        env=os.environ | SECRETS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 source(s), a processor, 1 sink(s)" in done.stdout + done.stderr  # the console writes to stderr


def sample_rows(dsn: str, shop_source: WebhookSource) -> dict[str, dict[str, Any]]:
    """'<system>.<object>' -> one row as its source publishes it, from the sample systems."""
    filled_erp(dsn)
    rows: dict[str, dict[str, Any]] = {}
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        with SalesforceSim() as sim:
            ids = crm_from_erp(sim, conn, seed=2)
            made = {
                "Account": next(iter(ids.accounts.values())),
                "Contact": next(iter(ids.contacts.values())),
                "Opportunity": next(iter(ids.opportunities.values())),
                "Product2": next(iter(ids.products.values())),
            }
            for obj, record in made.items():
                rows[f"crm.{obj}"] = typed_row(field_types(obj), sim.record(obj, record))
        for table in ("customers", "materials", "sales_orders", "sales_order_lines", "stock"):
            row = conn.execute(f"SELECT * FROM {table} ORDER BY 1 LIMIT 1").fetchone()
            assert row is not None
            rows[f"erp.{table}"] = dict(row)
    buyer = Buyer("a@example.com", "Ada", "Lovelace", "Ada GmbH", "Hauptstraße 1", "20095", "Hamburg", "DE")
    order = Shop([buyer], [Item("MAT-100001", "Kugellager", Decimal("4.90"))]).create()
    payload = body(order)
    headers = shopify_headers(SECRETS["SHOPIFY_CLIENT_SECRET"], payload, "delivery-1", "orders/create")
    endpoint = shop_source.endpoints[0]
    change = json_change(shop_source.system, endpoint, payload, headers, int(time.time() * 1000))
    assert change.after is not None
    rows[f"shop.{change.object}"] = dict(change.after)
    return rows


def test_every_mapping_maps_a_sample_row_of_its_object(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = business_config(monkeypatch)
    assert config.processor is not None
    shop = config.sources["shop"]
    assert isinstance(shop, WebhookSource)
    rows = sample_rows(database, shop)
    mapped = {}
    for mapping in config.processor.mappings:
        assert mapping.source in rows, f"no sample row of {mapping.source}"
        mapped[mapping.source] = map_row(mapping.fields, rows[mapping.source], config.processor.lookups)
    assert set(mapped) == set(rows)

    material = rows["erp.materials"]
    assert mapped["erp.materials"]["weight_g"] == material["gross_weight_kg"] * 1000
    assert mapped["erp.materials"]["unit"] in ("pcs", "kg", "m")
    assert mapped["crm.Product2"]["sku"] == material["material_number"]
    assert mapped["crm.Account"]["tax_id"] == rows["crm.Account"]["VAT_Number__c"]
    assert mapped["erp.stock"]["location"] == "Hamburg"
    opportunity = mapped["crm.Opportunity"]
    assert opportunity["currency"] == "EUR" and opportunity["status"] == "open"
    assert isinstance(opportunity["total_amount"], Decimal)
    shop_order = mapped["shop.orders"]
    assert shop_order["order_number"] == "#1001" and shop_order["status"] == "open"
    assert [line["product_id"] for line in shop_order["lines"]] == ["MAT-100001"]
    assert mapped["erp.sales_order_lines"]["line_number"] == 1


@pytest.mark.slow
def test_erp_rows_as_postgres_cdc_publishes_them_map(
    stack: StackInfo, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = business_config(monkeypatch)
    assert config.processor is not None
    mappings = {mapping.source: mapping for mapping in config.processor.mappings}
    source = config.sources["erp"]
    assert isinstance(source, PostgresCdcSource)
    filled_erp(database, orders=5)
    slot, publication = f"slot_{uuid.uuid4().hex[:12]}", f"pub_{uuid.uuid4().hex[:12]}"
    settings = {"dsn": SecretStr(database), "slot": slot, "publication": publication}
    cdc = PostgresCdc("erp", source.model_copy(update=settings), Metrics.create())
    try:
        cdc.setup(None)
        changes = cdc.changes()
        items = take(changes, lambda got: any(isinstance(i, Checkpoint) and i.snapshot_done for i in got), 60)
        with psycopg.connect(database, autocommit=True) as conn:
            stream = OrderStream(OrderBook(conn, seed=4))
            for _ in range(40):
                stream.step()
        items += idle(changes, 3)
    finally:
        cdc.close()
        drop_slot(stack.postgres_dsn, slot)
    published = [item for item in items if isinstance(item, Change)]
    assert {change.object for change in published} == set(source.tables)
    assert {"c", "u", "d"} <= {change.op for change in published}
    for change in published:
        row = change.after if change.after is not None else change.before
        assert row is not None
        mapping = mappings[f"erp.{change.object}"]
        map_row(mapping.fields, row, config.processor.lookups)
