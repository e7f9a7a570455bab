"""`seamline replay` on the real stack: a dropped target database is rebuilt identical to what it held; a dry run
writes nothing; replaying from a time reads only what was published since; a replay runs beside the running sink
and leaves no group behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from psycopg import sql

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topics import canonical_topic, ensure_topics
from tests.conftest import wait_until
from tests.sinks.canonical_records import customer, mixed_history, publish
from tests.sinks.target_contents import contents

pytestmark = pytest.mark.slow

TABLES = {"customer": "customers", "product": "products", "sales_order": "orders", "inventory_level": "stock"}


def write_config(path: Path, kafka: KafkaConfig, database: str) -> str:
    """A config with one postgres sink `warehouse` for all four entities; returns the sink's group id."""
    group = f"{kafka.topic_prefix}warehouse"
    warehouse = {
        "kind": "postgres",
        "dsn": database,
        "tables": TABLES,
        "group_id": group,
        "batch_size": 100,
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "sinks": {"warehouse": warehouse}}))
    return group


def seamline(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "seamline", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def committed(kafka: KafkaConfig, group: str) -> dict[tuple[str, int], int]:
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        wanted = [TopicPartition(canonical_topic(kafka, e), p) for e in TABLES for p in range(kafka.partitions)]
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(wanted, timeout=15)}
    finally:
        consumer.close()


def ends(kafka: KafkaConfig) -> dict[tuple[str, int], int]:
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": "ends"}))
    try:
        return {
            (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
            for topic in (canonical_topic(kafka, e) for e in TABLES)
            for p in range(kafka.partitions)
        }
    finally:
        consumer.close()


def test_a_dropped_target_database_is_rebuilt_identical(
    kafka: KafkaConfig, database: str, stack: StackInfo, tmp_path: Path
) -> None:
    config = tmp_path / "seamline.yaml"
    group = write_config(config, kafka, database)
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    publish(kafka, mixed_history())
    seamline(config, "replay", "--sink", "warehouse")
    before = contents(database)
    assert len(before["customers"]) == 50 and len(before["orders"]) == 30 and len(before["orders_lines"]) == 90
    assert {row[1] for row in before["stock"]} == {2}, "the higher stock version stays although it came first"

    name = psycopg.conninfo.conninfo_to_dict(database)["dbname"]
    assert isinstance(name, str)
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    assert contents(database) == {}
    done = seamline(config, "replay", "--sink", "warehouse", "--from", "earliest", "--group", "reset")

    assert contents(database) == before
    assert "replayed" in done.stderr
    assert committed(kafka, group) == ends(kafka), "the sink's own group goes on from the replay's end"


def test_a_dry_run_writes_nothing_and_a_replay_from_a_time_reads_only_what_came_since(
    kafka: KafkaConfig, database: str, tmp_path: Path
) -> None:
    config = tmp_path / "seamline.yaml"
    write_config(config, kafka, database)
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(10)])
    time.sleep(1.5)
    since = datetime.now(UTC).isoformat()
    time.sleep(0.5)
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(10, 17)])

    dry = seamline(config, "replay", "--sink", "warehouse", "--from", since, "--dry-run")
    assert "7 records at most" in dry.stderr, dry.stderr
    assert contents(database) == {}, "a dry run creates and writes nothing"

    seamline(config, "replay", "--sink", "warehouse", "--from", since)
    with psycopg.connect(database) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM customers")}
    assert ids == {f"c{n}" for n in range(10, 17)}


def test_a_start_that_is_not_a_time_is_one_clear_line(kafka: KafkaConfig, database: str, tmp_path: Path) -> None:
    config = tmp_path / "seamline.yaml"
    write_config(config, kafka, database)
    done = subprocess.run(
        [sys.executable, "-m", "seamline", "replay", "--sink", "warehouse", "--from", "yesterday", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--from 'yesterday' is not an ISO 8601 time: write e.g. 2026-11-22T08:00:00Z, or 'earliest'" in done.stderr


def test_a_replay_runs_beside_the_running_sink_and_leaves_no_group_behind(
    kafka: KafkaConfig, database: str, tmp_path: Path
) -> None:
    config = tmp_path / "seamline.yaml"
    group = write_config(config, kafka, database)
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(10)])
    supervisor = Supervisor(config, tmp_path / "logs", {"sink": ["sink", "run", "warehouse"]})
    supervisor.start("sink")
    try:
        wait_until(lambda: len(contents(database).get("customers", [])) == 10, 60, "the running sink to write")
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DELETE FROM customers")
        done = seamline(config, "replay", "--sink", "warehouse")  # the sink's metrics port is taken: not a clash
        assert "replayed" in done.stderr
        assert len(contents(database)["customers"]) == 10
        assert not supervisor.crashed(), supervisor.log_tail("sink")
    finally:
        supervisor.stop_all()
    admin = AdminClient(client_settings(kafka, "admin"))
    groups = {listed.group_id for listed in admin.list_consumer_groups().result(timeout=15).valid}
    assert group in groups
    assert not {name for name in groups if name.startswith(f"{group}-replay-")}, "the replay removes its own group"
