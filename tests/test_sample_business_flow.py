"""The sample business end to end: examples/business.yaml runs its three sources, the processor and the
warehouse sink as real processes; all four canonical topics end holding one golden record per business
object, linked across the ERP (logical replication), the CRM (the Salesforce simulation) and the shop
(signed webhooks), and the warehouse holds the newest version of every live golden record.

The ERP keeps changing while the pipeline runs; the expected records are read from the ERP, the CRM's ids
and the shop's last payloads once it stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from sandbox.business import CrmIds, crm_from_erp
from sandbox.erp_orders import OrderBook, OrderStream
from sandbox.salesforce import SalesforceSim
from sandbox.shop import Shop, buyers, items, send
from seamline.config import KafkaConfig, load_config
from seamline.operations.local_pipeline import drop_slot
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from tests.canonical_topics import Canonical
from tests.conftest import wait_until
from tests.sample_business import CONFIG, SECRETS
from tests.sandbox.erp_fixtures import filled_erp

pytestmark = pytest.mark.slow

ENTITIES = ("customer", "product", "sales_order", "inventory_level")
SOURCES = ("erp", "crm", "shop")


def pipeline_config(
    path: Path, kafka: dict[str, Any], erp_dsn: str, warehouse_dsn: str, crm_url: str, work: Path
) -> dict[str, Any]:
    """examples/business.yaml pointed at this test's databases, CRM, topics, ports and state; written to `path`."""
    config = yaml.safe_load(CONFIG.read_text())
    suffix = uuid.uuid4().hex[:10]
    config["kafka"] = kafka
    sources = config["sources"]
    sources["erp"].update(dsn=erp_dsn, slot=f"slot_{suffix}", publication=f"pub_{suffix}")
    sources["crm"].update(login_url=crm_url, poll_interval_s=0.5)
    for source in sources.values():
        if source["kind"] == "webhook":
            source["port"] = free_port()
    warehouse = config["sinks"]["warehouse"]
    warehouse.update(dsn=warehouse_dsn, group_id=f"{kafka['topic_prefix']}warehouse")
    for section in (*sources.values(), config["processor"], *config["sinks"].values(), config["notify"]):
        section["metrics_port"] = free_port()
    processor = {"app_id": f"{kafka['topic_prefix']}business", "data_dir": str(work / "processor"), "batch_size": 200}
    config["processor"].update(processor)
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    load_config(path)  # still a valid configuration
    return config


def golden_of(live: dict[str, dict[str, Any]], entity: str) -> dict[str, dict[str, Any]]:
    """Source record ('<system>.<object>:<key>') -> the live golden record of `entity` that links it."""
    return {
        link: record
        for key, record in live.items()
        if key.startswith(f"{entity}/") and record["merged_into"] is None
        for link in record["links"]
    }


def problems(
    live: dict[str, dict[str, Any]], erp: dict[str, list[dict[str, Any]]], crm: CrmIds, shop: Shop, late: str
) -> list[str]:
    """What the canonical topics lack or get wrong, against the three systems' final state."""
    found: list[str] = []
    customers, products = golden_of(live, "customer"), golden_of(live, "product")
    orders, levels = golden_of(live, "sales_order"), golden_of(live, "inventory_level")

    def same(what: str, links: list[str], index: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        records = [index.get(link) for link in links]
        if None in records or len({record["id"] for record in records if record}) != 1:
            found.append(f"{what}: {links} are not all linked to one golden record")
            return None
        return records[0]

    for row in erp["customers"]:
        account = crm.accounts.get(row["id"])
        links = [f"erp.customers:{row['id']}"] + ([f"crm.Account:{account}"] if account else [])
        record = same(f"ERP customer {row['id']}", links, customers)
        if record is not None and record["email"] != row["email"].lower():
            found.append(f"customer {record['id']}: e-mail {record['email']!r}, ERP has {row['email']!r}")
    prospect = customers.get(f"crm.Account:{late}")
    if prospect is None or prospect["name"] != "Nachzügler Handels GmbH":
        found.append(f"the Account created while running ({late}) has no golden customer of its name")
    material_golden: dict[int, str] = {}
    for row in erp["materials"]:
        crm_product = crm.products.get(row["material_number"])
        links = [f"erp.materials:{row['id']}"] + ([f"crm.Product2:{crm_product}"] if crm_product else [])
        record = same(f"material {row['material_number']}", links, products)
        if record is not None:
            material_golden[row["id"]] = record["id"]
            if record["sku"] != row["material_number"] or record["list_price"] != row["list_price"]:
                found.append(f"product {record['id']}: {record['sku']} at {record['list_price']}, ERP differs")

    def customer_id(link: str) -> str | None:
        record = customers.get(link)
        return None if record is None else record["id"]

    erp_lines: dict[int, dict[int, dict[str, Any]]] = {}
    for line in erp["sales_order_lines"]:
        erp_lines.setdefault(line["order_id"], {})[line["line_no"]] = line
    for row in erp["sales_orders"]:
        opportunity = crm.opportunities.get(row["id"])
        links = [f"erp.sales_orders:{row['id']}"] + ([f"crm.Opportunity:{opportunity}"] if opportunity else [])
        record = same(f"ERP order {row['order_number']}", links, orders)
        if record is None:
            continue
        wanted = {
            number: (material_golden.get(line["material_id"]), line["quantity"])
            for number, line in erp_lines.get(row["id"], {}).items()
        }
        got = {line["line_number"]: (line["product_id"], line["quantity"]) for line in record["lines"]}
        if got != wanted or record["customer_id"] != customer_id(f"erp.customers:{row['customer_id']}"):
            found.append(f"order {row['order_number']}: customer or lines differ from the ERP's")
        if record["status"] != row["status"] or record["total_amount"] != row["total"]:
            found.append(f"order {row['order_number']}: {record['status']} {record['total_amount']}, ERP differs")
    live_orders = {f"erp.sales_orders:{row['id']}" for row in erp["sales_orders"]}
    gone = [link for link in orders if link.startswith("erp.sales_orders:") and link not in live_orders]
    if gone:
        found.append(f"deleted ERP orders still linked: {gone[:5]}")

    by_email = {record["email"]: record["id"] for record in customers.values() if record["email"]}
    skus = {record["sku"]: record["id"] for record in products.values()}
    for order in shop.orders.values():
        record = orders.get(f"shop.orders:{order['id']}")
        if record is None:
            found.append(f"shop order {order['name']} has no golden record")
            continue
        wanted_lines = [(skus.get(item["sku"]), Decimal(item["quantity"])) for item in order["line_items"]]
        got_lines = [(line["product_id"], line["quantity"]) for line in record["lines"]]
        if record["customer_id"] != by_email.get(order["email"]) or got_lines != wanted_lines:
            found.append(f"shop order {order['name']}: customer or lines differ from the shop's")
        if record["total_amount"] != Decimal(order["total_price"]):
            found.append(
                f"shop order {order['name']}: total {record['total_amount']}, shop sent {order['total_price']}"
            )

    if len({record["id"] for record in products.values()}) != len(erp["materials"]):
        found.append("the CRM's products did not all join the ERP material of their SKU")
    plants = {"1000": "Hamburg", "2000": "Milano", "3000": "Shanghai"}
    for row in erp["stock"]:
        key = f"erp.stock:material_id={row['material_id']};plant={row['plant']}"
        record = levels.get(key)
        if record is None:
            found.append(f"stock {key} has no golden inventory level")
            continue
        expected = (material_golden.get(row["material_id"]), plants[row["plant"]], row["quantity_on_hand"])
        if (record["product_id"], record["location"], record["quantity_on_hand"]) != expected:
            found.append(f"inventory level {record['id']}: {record['product_id']} {record['location']} differs")
    return found


def warehouse_problems(live: dict[str, dict[str, Any]], dsn: str, tables: dict[str, str]) -> list[str]:
    """Where the warehouse differs from the live golden records: (id, version) per entity, and order lines."""
    found = []
    with psycopg.connect(dsn) as conn:
        for entity, table in tables.items():
            records = [r for key, r in live.items() if key.startswith(f"{entity}/") and not r["deleted"]]
            wanted = {(record["id"], record["version"]) for record in records}
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                return [f"the warehouse has no table {table} yet"]
            held = set(conn.execute(f"SELECT id, version FROM {table}").fetchall())
            if held != wanted:
                found.append(f"{table}: {len(wanted - held)} versions missing, {len(held - wanted)} not live")
            if entity == "sales_order":
                lines = sum(len(record["lines"]) for record in records)
                row = conn.execute(f"SELECT count(*) FROM {table}_lines").fetchone()
                if row != (lines,):
                    found.append(f"{table}_lines: {row} rows, the live orders have {lines} lines")
    return found


def erp_rows(dsn: str) -> dict[str, list[dict[str, Any]]]:
    tables = ("customers", "materials", "sales_orders", "sales_order_lines", "stock")
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return {table: conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables}


def wait_for(check: Callable[[], list[str]], supervisor: Supervisor, timeout: float) -> None:
    latest: list[str] = []

    def done() -> bool:
        if supervisor.crashed():
            pytest.fail(f"processes exited: {supervisor.crashed()}\n{supervisor.log_tail('processor')}")
        latest[:] = check()
        return not latest

    try:
        wait_until(done, timeout, "the pipeline to reach the expected state", interval=3)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; {len(latest)} problems:\n" + "\n".join(latest[:20])) from None


def test_the_sample_business_reaches_all_four_canonical_topics_and_the_warehouse(
    stack: StackInfo,
    new_database: Callable[[], str],
    kafka: KafkaConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database, warehouse = new_database(), new_database()
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    filled_erp(database, customers=40, materials=12, orders=25)
    with psycopg.connect(database, autocommit=True) as conn, SalesforceSim() as crm_sim:
        crm = crm_from_erp(crm_sim, conn, seed=5)
        kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
        config = pipeline_config(tmp_path / "business.yaml", kafka_section, database, warehouse, crm_sim.url, tmp_path)
        supervisor = Supervisor(
            tmp_path / "business.yaml",
            tmp_path / "logs",
            {
                **{name: ["source", "run", name] for name in SOURCES},
                "processor": ["process"],
                "warehouse": ["sink", "run", "warehouse"],
            },
        )
        shop = Shop(buyers(conn), items(conn), seed=5)
        erp_changes = OrderStream(OrderBook(conn, seed=5))
        supervisor.start_all()
        try:
            shop_source = config["sources"]["shop"]
            with httpx.Client(base_url=f"http://127.0.0.1:{shop_source['port']}", timeout=30) as client:
                for number in range(30):
                    update = number % 3 == 2
                    order = shop.update() if update else shop.create()
                    send(
                        client,
                        shop_source["endpoints"][0]["path"],
                        SECRETS["SHOPIFY_CLIENT_SECRET"],
                        order,
                        "orders/updated" if update else "orders/create",
                    )
                    erp_changes.step()
            late = crm_sim.insert("Account", {"Name": "Nachzügler Handels GmbH", "Type": "Prospect"})
            canonical = Canonical(kafka, ENTITIES)
            wait_for(lambda: problems(canonical.read()[0], erp_rows(database), crm, shop, late), supervisor, 240)
            tables = config["sinks"]["warehouse"]["tables"]
            wait_for(lambda: warehouse_problems(canonical.read()[0], warehouse, tables), supervisor, 120)
        finally:
            supervisor.stop_all()
            drop_slot(stack.postgres_dsn, config["sources"]["erp"]["slot"])
    for stage in ("cleanse", "resolve"):
        letters = list(read_to_end(kafka, dlq_topic(kafka, stage)))
        assert letters == [], f"dead letters in dlq.{stage}: {[message.headers() for message in letters[:3]]}"
