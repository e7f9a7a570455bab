"""examples/business.yaml validates, syncs customers to Mailchimp and Zendesk both ways, announces failures, and
every mapping's field rules map a real sample row of its object."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import SecretStr

from producers.http_poll.config import HttpPollSource
from producers.http_poll.source import HttpPoll
from producers.postgres_cdc.config import PostgresCdcSource
from producers.postgres_cdc.source import PostgresCdc
from producers.salesforce.sf_types import typed_row
from producers.webhook.config import WebhookSource
from producers.webhook.mailchimp import mailchimp_changes
from producers.webhook.payloads import json_change
from sandbox.business import crm_from_erp
from sandbox.erp_orders import OrderBook, OrderStream
from sandbox.salesforce import SalesforceSim
from sandbox.salesforce_objects import field_types
from sandbox.shop import Buyer, Item, Shop, body
from sandbox.webhook_senders import shopify_headers
from sandbox.zendesk import Zendesk, running
from seamline.connectors.source import Checkpoint
from seamline.events import Change
from seamline.mapping import map_row
from seamline.metrics import Metrics
from seamline.notify_config import EmailChannel, SlackChannel, SmsChannel
from seamline.operations.local_pipeline import drop_slot
from seamline.stack import StackInfo
from sinks.mailchimp.config import MailchimpSink
from sinks.postgres.config import PostgresSink
from sinks.zendesk.config import ZendeskSink
from tests.producers.draining import changes_in, idle, take
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
    assert "6 source(s), a processor, 3 sink(s)" in done.stdout + done.stderr  # the console writes to stderr


def test_customers_go_to_mailchimp_and_zendesk_and_come_back_from_both(monkeypatch: pytest.MonkeyPatch) -> None:
    config = business_config(monkeypatch)
    assert {name: type(sink) for name, sink in config.sinks.items()} == {
        "warehouse": PostgresSink,
        "marketing": MailchimpSink,
        "support": ZendeskSink,
    }
    marketing, support = config.sinks["marketing"], config.sinks["support"]
    assert isinstance(marketing, MailchimpSink) and isinstance(support, ZendeskSink)
    assert list(marketing.entities) == list(support.entities) == ["customer"]
    assert marketing.entities["customer"].fields["email_address"] == "email"
    assert support.entities["customer"].organizations is None, "every customer is a Zendesk user (a requester)"
    hooks, poll, users = config.sources["marketing"], config.sources["marketing-poll"], config.sources["support"]
    assert isinstance(hooks, WebhookSource) and isinstance(poll, HttpPollSource) and isinstance(users, HttpPollSource)
    (endpoint,) = hooks.endpoints
    assert (endpoint.provider, endpoint.object, endpoint.sync_field) == ("mailchimp", "members", marketing.sync_field)
    (members,) = poll.objects
    assert members.path == f"/3.0/lists/{marketing.list_id}/members" and poll.base_url == marketing.base_url
    assert members.sync_mark_field == f"merge_fields.{marketing.sync_field}", "the poll leaves out the sink's writes"
    assert [obj.name for obj in users.objects] == ["users"] and users.base_url == support.base_url
    assert users.objects[0].sync_mark_field == f"user_fields.{support.sync_field}"
    # what comes back is mapped onto the customers the sinks write from, and never written back to its origin
    assert config.processor is not None
    sources = {mapping.source: mapping.entity for mapping in config.processor.mappings}
    assert sources["marketing.members"] == sources["support.users"] == "customer"
    assert (hooks.system, poll.system, marketing.system) == ("marketing",) * 3
    assert (users.system, support.system) == ("support",) * 2


def test_every_failed_record_is_announced_by_email_slack_and_sms(monkeypatch: pytest.MonkeyPatch) -> None:
    notify = business_config(monkeypatch).notify
    assert notify is not None
    kinds = {type(channel) for channel in notify.channels.values()}
    assert kinds == {EmailChannel, SlackChannel, SmsChannel}
    (targets,) = [route for route in notify.routes if route.name == "targets"]
    assert targets.stages == ["sink.*"] and {type(notify.channels[name]) for name in targets.channels} == kinds
    assert not (notify.routes[-1].stages or notify.routes[-1].entities or notify.routes[-1].systems), "a catch-all"


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
    rows |= saas_rows()
    return rows


def saas_rows() -> dict[str, dict[str, Any]]:
    """A Mailchimp member as the webhook source publishes it, and a Zendesk user as the http_poll source does."""
    form = {
        "type": "subscribe",
        "fired_at": "2026-01-05 10:00:00",
        "data[id]": "8a25ff1d98",
        "data[list_id]": "a1b2c3d4e5",
        "data[email]": "ada@example.com",
        "data[merges][FNAME]": "Ada Lovelace",
    }
    hooks = WebhookSource.model_validate(
        {
            "kind": "webhook",
            "system": "marketing",
            "endpoints": [{"path": "/mailchimp", "provider": "mailchimp", "secret": "s", "object": "members"}],
        }
    )
    (member,) = mailchimp_changes("marketing", hooks.endpoints[0], urlencode(form).encode(), 0)
    assert member.after is not None
    account = Zendesk(delay_s=0)
    account.add_field("user", "seamline_sync")
    account.create_user("Ada Lovelace", "ada@example.com", phone="+49 40 1234567")
    time.sleep(1.1)  # the export shows finished seconds only
    with running(account) as url:
        settings = {"base_url": url, "auth": {"kind": "api_token", "user": account.email, "token": account.api_token}}
        poll = HttpPollSource.model_validate({"kind": "http_poll", "objects": ["users"], **settings})
        source = HttpPoll("support", poll, Metrics.create())
        source.setup(None)
        try:
            (user,) = changes_in(take(source.changes(), lambda got: bool(changes_in(got))))
        finally:
            source.close()
    assert user.after is not None
    return {f"marketing.{member.object}": dict(member.after), f"support.{user.object}": dict(user.after)}


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
    for source in ("marketing.members", "support.users"):
        assert (mapped[source]["name"], mapped[source]["email"]) == ("Ada Lovelace", "ada@example.com"), source


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
