"""`seamline validate` refuses what only the whole file can tell: one port for two processes, and (with
--connect, on real PostgreSQL) a table or a mapped column the source's database does not have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from seamline.config import load_config
from seamline.config_checks import port_clashes
from seamline.config_file import explain_problems
from tests.command import ROOT, seamline
from tests.sample_business import SECRETS

SOURCE = {
    "kind": "postgres_cdc",
    "dsn": "postgresql://127.0.0.1:55432/erp",
    "system": "erp",
    "tables": ["customers"],
    "slot": "erp",
    "publication": "erp",
}
SINK = {"kind": "postgres", "dsn": "postgresql://127.0.0.1:55432/warehouse", "tables": {"customer": "customers"}}
WEBHOOK = {
    "kind": "webhook",
    "system": "shop",
    "port": 8080,
    "endpoints": [{"path": "/orders", "provider": "shopify", "secret": "s", "object": "orders"}],
}


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "seamline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def line_of(path: Path, text: str, after: str = "") -> int:
    """The number of the first line holding `text` past the first line holding `after`."""
    lines = path.read_text().splitlines()
    start = next(number for number, line in enumerate(lines) if after in line)
    return next(number for number, line in enumerate(lines[start:], start + 1) if text in line)


def clashes(path: Path) -> str:
    return explain_problems(port_clashes(load_config(path)), path.read_text(), path)


def test_two_processes_on_one_metrics_port_are_refused_naming_both_sections_and_a_free_port(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "sources": {"erp": {**SOURCE, "metrics_port": 9101}},
            "sinks": {"warehouse": {**SINK, "metrics_port": 9101}, "archive": {**SINK, "metrics_port": 9104}},
        },
    )
    line = line_of(path, "metrics_port: 9101", after="warehouse")
    assert clashes(path) == (
        f"{path}:{line}: sinks.warehouse.metrics_port: port 9101 is also sources.erp.metrics_port: sources.erp and "
        "sinks.warehouse cannot both listen on it; give sinks.warehouse.metrics_port a port of its own, e.g. 9105"
    )


def test_a_default_port_taken_twice_is_named_as_the_default(tmp_path: Path) -> None:
    path = write(tmp_path, {"sources": {"erp": SOURCE, "crm": {**SOURCE, "system": "crm", "slot": "crm"}}})
    assert clashes(path) == (
        f"{path}:{line_of(path, 'crm:')}: sources.crm.metrics_port: port 9101 is also sources.erp.metrics_port "
        "(its default): sources.erp and sources.crm cannot both listen on it; give sources.crm.metrics_port a port "
        "of its own, e.g. 9102"
    )


def test_a_webhook_receiver_on_another_process_metrics_port_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "sources": {"shop": {**WEBHOOK, "metrics_port": 9104}},
            "processor": {
                "metrics_port": 8080,
                "mappings": [{"source": "shop.orders", "entity": "sales_order", "fields": {"order_number": "name"}}],
            },
            "sinks": {"warehouse": {**SINK, "metrics_port": 9104}},
        },
    )
    problems = port_clashes(load_config(path))
    assert [(where, message.split(":")[0]) for where, message in problems] == [
        (("processor", "metrics_port"), "port 8080 is also sources.shop.port"),
        (("sinks", "warehouse", "metrics_port"), "port 9104 is also sources.shop.metrics_port"),
    ]
    assert "sources.shop and processor cannot both listen on it" in problems[0][1]


def test_a_receiver_on_its_own_metrics_port_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"sources": {"shop": {**WEBHOOK, "metrics_port": 8080}}})
    assert "two endpoints of sources.shop cannot both listen on it" in clashes(path)


def test_the_shipped_configurations_use_each_port_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRETS, "STRIPE_WEBHOOK_SECRET", "ZENDESK_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "x")
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        assert port_clashes(load_config(path)) == [], path


def test_validate_refuses_a_port_clash_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, {"sources": {"erp": SOURCE}, "sinks": {"warehouse": {**SINK, "metrics_port": 9101}}})
    result = seamline("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert "sinks.warehouse.metrics_port: port 9101 is also sources.erp.metrics_port (its default)" in (
        result.stderr.replace("\n", "")
    )


def erp_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, full_name text, email text, address jsonb)")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, title text, updated_at timestamptz NOT NULL)")


def connect_config(dsn: str) -> dict[str, Any]:
    return {
        "sources": {
            "erp": {**SOURCE, "dsn": dsn, "tables": ["customers", "public.orders"]},
            "catalog": {
                "kind": "sql_poll",
                "dsn": dsn.replace("postgresql://", "postgresql+psycopg://", 1),
                "system": "catalog",
                "table": "items",
                "metrics_port": 9104,
            },
        },
        "processor": {
            "mappings": [
                {
                    "source": "erp.customers",
                    "entity": "customer",
                    "fields": {
                        "name": "full_name",
                        "email": {"column": "mail"},
                        "city": "address.city",
                        "country": {"concat": ["address.country", "land"]},
                    },
                },
                {"source": "catalog.items", "entity": "product", "fields": {"name": "title", "sku": "sku"}},
            ]
        },
    }


def test_validate_connect_refuses_tables_and_mapped_columns_the_databases_lack(tmp_path: Path, database: str) -> None:
    erp_tables(database)
    path = write(tmp_path, connect_config(database))
    assert seamline("validate", str(path)).returncode == 0, "without --connect no database is read"
    result = seamline("validate", "--connect", str(path))
    assert result.returncode == 2, result.stderr
    said = result.stderr.replace("\n", "")
    customers = "(its columns: address, email, full_name, id): fix the rule, or add the column to the table"
    for where, message in [
        (
            f"{path}:{line_of(path, 'public.orders')}: sources.erp.tables.1",
            "table public.orders does not exist (or the role cannot see it); fix 'tables' of the source or create "
            "the table",
        ),
        (
            f"{path}:{line_of(path, 'email:')}: processor.mappings.0.fields.email",
            f"mapping erp.customers reads column 'mail', which table customers of source erp does not have {customers}",
        ),
        (
            f"{path}:{line_of(path, 'country:')}: processor.mappings.0.fields.country",
            f"mapping erp.customers reads column 'land', which table customers of source erp does not have {customers}",
        ),
        (
            f"{path}:{line_of(path, 'sku:')}: processor.mappings.1.fields.sku",
            "mapping catalog.items reads column 'sku', which table items of source catalog does not have (its "
            "columns: id, title, updated_at)",
        ),
    ]:
        assert f"{where}: {message}" in said, said
    assert said.count("mapping ") == 3, "name, city (a path into address) and title exist"
    assert "Traceback" not in said


def test_validate_connect_accepts_what_the_databases_have_and_names_one_it_cannot_reach(
    tmp_path: Path, database: str
) -> None:
    erp_tables(database)
    config = connect_config(database)
    config["sources"]["erp"]["tables"] = ["customers"]
    config["processor"]["mappings"] = [
        {"source": "erp.customers", "entity": "customer", "fields": {"name": "full_name", "city": "address.city"}}
    ]
    path = write(tmp_path, config)
    result = seamline("validate", "--connect", str(path))
    assert result.returncode == 0, result.stderr

    config["sources"]["erp"]["dsn"] = database.rsplit("/", 1)[0] + "/no_such_database"
    result = seamline("validate", "--connect", str(write(tmp_path, config)))
    assert result.returncode == 2
    said = result.stderr.replace("\n", "")
    assert f"{path}:{line_of(path, 'dsn:')}: sources.erp.dsn: source erp: cannot connect to PostgreSQL (" in said
    assert 'database "no_such_database" does not exist' in said
