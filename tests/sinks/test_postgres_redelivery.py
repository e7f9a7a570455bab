"""The postgres sink through the runner on real Kafka: redelivering whole topics to a fresh consumer group
changes nothing in the target (same rows, same versions, not even `synced_at`)."""

from __future__ import annotations

import random
import threading
from decimal import Decimal
from typing import Any

import psycopg
from pydantic import SecretStr

from seamline.config import KafkaConfig
from seamline.metrics import Metrics
from seamline.topics import canonical_topic, ensure_topics
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget
from sinks.runner import SinkRunner
from tests.conftest import wait_until
from tests.sinks.canonical_records import Change, customer, order, publish

CUSTOMERS, ORDERS = 200, 100
TABLES = {"customer": "customers", "sales_order": "orders"}


def changes() -> list[Change]:
    """Versions 1-3 of every customer (every tenth also deleted, then a tombstone) and 1-2 of every order."""
    result: list[Change] = []
    for number in range(CUSTOMERS):
        result += [("customer", f"c{number}", customer(number, version)) for version in (1, 2, 3)]
        if number % 10 == 0:
            result += [("customer", f"c{number}", customer(number, 4, deleted=True)), ("customer", f"c{number}", None)]
    for number in range(ORDERS):
        result += [("sales_order", f"o{number}", order(number, version)) for version in (1, 2)]
    return result


def run_until_read(kafka: KafkaConfig, database: str, group: str, records: int) -> None:
    """Run the sink in a fresh consumer group until it has handled `records` records."""
    metrics = Metrics.create()
    sink = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(database), tables=TABLES))
    runner = SinkRunner("warehouse", kafka, sink, list(TABLES), metrics, group_id=group, batch_size=150)
    worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
    worker.start()
    try:
        wait_until(
            lambda: (
                sum(
                    metrics.registry.get_sample_value("seamline_events_in_total", {"stage": "sink", "topic": topic})
                    or 0
                    for topic in (canonical_topic(kafka, entity) for entity in TABLES)
                )
                >= records
            ),
            60,
            f"group {group} to read all {records} records",
            interval=0.2,
        )
    finally:
        runner.stop()
        worker.join(30)


def snapshot(database: str) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "customers": "SELECT id, version, name, synced_at FROM customers ORDER BY id",
        "orders": "SELECT id, version, synced_at FROM orders ORDER BY id",
        "lines": "SELECT sales_order_id, line_number, quantity FROM orders_lines ORDER BY 1, 2",
    }
    with psycopg.connect(database) as conn:
        return {name: conn.execute(query).fetchall() for name, query in queries.items()}


def test_redelivering_every_topic_to_a_fresh_group_changes_nothing(kafka: KafkaConfig, database: str) -> None:
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    records = publish(kafka, changes())
    run_until_read(kafka, database, f"{kafka.topic_prefix}first", records)
    first = snapshot(database)
    assert len(first["customers"]) == CUSTOMERS - CUSTOMERS // 10 and {row[1] for row in first["customers"]} == {3}
    assert len(first["orders"]) == ORDERS and {row[1] for row in first["orders"]} == {2}
    assert len(first["lines"]) == 2 * ORDERS and {row[2] for row in first["lines"]} == {Decimal(2)}
    run_until_read(kafka, database, f"{kafka.topic_prefix}replay-{random.randrange(10**6)}", records)
    assert snapshot(database) == first
