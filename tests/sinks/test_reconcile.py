"""`seamline reconcile` on the real stack: a target corrupted on purpose is found out exactly where it was
corrupted (missing, extra and differing rows, order lines included), and `--repair` makes it whole again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from seamline.cli.main import app
from seamline.config import KafkaConfig, load_config
from seamline.metrics import Metrics
from seamline.stack.ports import free_port
from seamline.topics import canonical_topic, ensure_topics
from sinks.reconcile import Reconciliation
from tests.sinks.canonical_records import mixed_history, publish
from tests.sinks.target_contents import contents

pytestmark = pytest.mark.slow

TABLES = {"customer": "customers", "product": "products", "sales_order": "orders", "inventory_level": "stock"}

CORRUPTION = """
UPDATE customers SET name = 'Wrong' WHERE id = 'c1';
DELETE FROM products WHERE id = 'p2';
CREATE TEMP TABLE copied AS SELECT * FROM customers WHERE id = 'c2';
UPDATE copied SET id = 'c9999';
INSERT INTO customers SELECT * FROM copied;
UPDATE orders_lines SET quantity = 99 WHERE sales_order_id = 'o4' AND line_number = 1;
"""


def invoke(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(config)], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def config(kafka: KafkaConfig, database: str, tmp_path: Path) -> Path:
    sinks: dict[str, Any] = {
        "warehouse": {
            "kind": "postgres",
            "dsn": database,
            "tables": TABLES,
            "group_id": f"{kafka.topic_prefix}warehouse",
            "metrics_port": free_port(),
        },
        "erp": {
            "kind": "http",
            "base_url": "http://127.0.0.1:9",
            "auth": {"kind": "basic", "user": "u", "password": "p"},
            "entities": {
                "customer": {
                    "collection": "/c",
                    "item": "/c/{key}",
                    "key_field": "k",
                    "version_field": "v",
                    "fields": {"k": "id", "v": "version"},
                }
            },
            "metrics_port": free_port(),
        },
    }
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path = tmp_path / "seamline.yaml"
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "sinks": sinks}))
    return path


def test_a_corrupted_target_is_found_out_exactly_and_repaired(kafka: KafkaConfig, database: str, config: Path) -> None:
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    publish(kafka, mixed_history())
    assert invoke(config, "replay", "--sink", "warehouse")[0] == 0
    code, output = invoke(config, "reconcile", "--sink", "warehouse")
    assert code == 0 and "140 records compared: all aligned" in output, output
    sound = contents(database)

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(CORRUPTION)
    code, output = invoke(config, "reconcile", "--sink", "warehouse", "--json")
    found = {
        (m["entity"], m["id"], m["kind"]): m["fields"]
        for m in (json.loads(line) for line in output.splitlines() if line.startswith("{"))
    }
    assert code == 1
    assert found == {
        ("customer", "c1", "differs"): {"name": ["text(13)", "text(5)"]},
        ("product", "p2", "missing"): {},
        ("customer", "c9999", "extra"): {},
        ("sales_order", "o4", "differs"): {"lines": ["list(3)", "other rows"]},
    }
    assert "Customer 1" not in output, "shapes, not values"

    metrics = Metrics.create()
    Reconciliation("warehouse", kafka, load_config(config).sinks["warehouse"], metrics).check()
    gauge = metrics.reconcile_misaligned
    assert gauge.labels("sink.warehouse", "customer", "differs")._value.get() == 1
    assert gauge.labels("sink.warehouse", "customer", "extra")._value.get() == 1
    assert gauge.labels("sink.warehouse", "inventory_level", "missing")._value.get() == 0

    code, output = invoke(config, "reconcile", "--sink", "warehouse", "--repair")
    assert code == 0 and "repaired; 0 misalignment(s) left" in output, output
    assert contents(database) == sound


def test_a_sink_that_cannot_be_read_back_is_one_clear_line(config: Path) -> None:
    code, output = invoke(config, "reconcile", "--sink", "erp")
    assert code == 2 and "sink erp is a http sink: reconcile reads postgres targets only so far" in output
