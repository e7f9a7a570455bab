"""The real `seamline source run` process polling MariaDB into Kafka, killed with SIGKILL while rows change.

A poll sees the rows as they are when it reads them (two updates between polls are one change), so the
check is that Kafka ends with every row's last version and a delete for every row deleted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from producers.sql_poll.source import format_position
from producers.sql_poll.table import connect_engine
from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import source_topic
from tests.command import seamline
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

ROWS = 120
STEPS = 1500


@pytest.fixture
def engine(mariadb_database: str) -> Iterator[sa.Engine]:
    made = connect_engine("test", mariadb_database)
    with made.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customers (id bigint PRIMARY KEY, full_name varchar(100) NOT NULL, "
                "version int NOT NULL, updated_at DATETIME(6) NOT NULL)"
            )
        )
    yield made
    made.dispose()


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def write_changes(engine: sa.Engine, stop: threading.Event) -> None:
    """Inserts, updates and hard deletes by one writer, each in its own transaction."""
    rng = random.Random(7)
    live: list[int] = []
    next_key = 1
    for step in range(STEPS):
        if stop.is_set():
            return
        with engine.begin() as conn:
            if len(live) < ROWS // 2 or rng.random() < 0.4:
                conn.execute(
                    sa.text("INSERT INTO customers VALUES (:id, :name, 0, :at)"),
                    {"id": next_key, "name": f"customer {next_key}", "at": now()},
                )
                live.append(next_key)
                next_key += 1
            elif rng.random() < 0.75:
                conn.execute(
                    sa.text(
                        "UPDATE customers SET version = version + 1, full_name = :name, updated_at = :at WHERE id = :id"
                    ),
                    {"id": rng.choice(live), "name": f"renamed at {step}", "at": now()},
                )
            else:
                gone = live.pop(rng.randrange(len(live)))
                conn.execute(sa.text("DELETE FROM customers WHERE id = :id"), {"id": gone})
        time.sleep(0.005)


def polling(supervisor: Supervisor, starts: int) -> bool:
    """True once the source process has started polling `starts` times (it logs a line at the end of setup)."""
    path = supervisor.log_dir / "source.log"
    return path.exists() and path.read_text(errors="replace").count("source erp polls ") >= starts


def newest_per_key(kafka: KafkaConfig, topic: str) -> dict[str, dict[str, Any]]:
    """The newest event of every key (a key's events share a partition, so offset order is their order)."""
    serde = AvroSerde(kafka)
    newest: dict[str, dict[str, Any]] = {}
    for message in read_to_end(kafka, topic):
        key = serde.decode(topic, message.key(), key=True)["columns"]["id"]
        newest[key] = serde.decode(topic, message.value())
    return newest


def test_a_source_that_cannot_start_says_why_in_one_line(mariadb_database: str, tmp_path: Path) -> None:
    for dsn, table, expected in [
        (
            mariadb_database.replace("seamline:seamline@", "seamline:not-the-password@"),
            "customers",
            "source erp: cannot connect to mysql+pymysql://seamline:***@127.0.0.1:53306/",
        ),
        (mariadb_database, "nowhere", "source erp: table db_"),
    ]:
        source = {"kind": "sql_poll", "dsn": dsn, "system": "erp", "table": table, "metrics_port": free_port()}
        config_path = tmp_path / "seamline.yaml"
        config_path.write_text(yaml.safe_dump({"sources": {"erp": source}}))
        run = seamline("source", "run", "erp", "--config", str(config_path), timeout=120)
        assert run.returncode == 2, run.stdout + run.stderr
        (line,) = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("source erp:")]
        assert line.startswith(expected) and "Traceback" not in run.stdout + run.stderr
        assert "not-the-password" not in run.stdout + run.stderr


def test_sigkill_while_rows_change_loses_no_change(
    engine: sa.Engine, mariadb_database: str, kafka: KafkaConfig, tmp_path: Path
) -> None:
    config = {
        "kafka": kafka.model_dump(mode="json", include={"bootstrap_servers", "schema_registry_url", "topic_prefix"}),
        "sources": {
            "erp": {
                "kind": "sql_poll",
                "dsn": mariadb_database,
                "system": "erp",
                "table": "customers",
                "poll_interval_s": 0.2,
                "batch_size": 40,
                "overlap_s": 1.0,
                "delete_detection": "key_comparison",
                "key_comparison_interval_s": 1.0,
                "metrics_port": free_port(),
            }
        },
    }
    config_path = tmp_path / "seamline.yaml"
    config_path.write_text(yaml.safe_dump(config))
    supervisor = Supervisor(config_path, tmp_path / "logs", {"source": ["source", "run", "erp"]})
    stop = threading.Event()
    writer = threading.Thread(target=write_changes, args=(engine, stop))
    rng = random.Random()
    supervisor.start("source")
    writer.start()
    try:
        for started in range(1, 5):
            wait_until(partial(polling, supervisor, started), 60, f"source start {started}", interval=0.1)
            time.sleep(rng.uniform(0.2, 2.5))  # somewhere in a poll, a publish, a comparison or a commit
            supervisor.kill("source")
            supervisor.start("source")
        writer.join(180)
        assert not writer.is_alive(), "the writer did not finish"
        with engine.connect() as conn:
            final = {str(r.id): r for r in conn.execute(sa.text("SELECT * FROM customers"))}
        topic = source_topic(kafka, "erp", "customers")
        seen: dict[str, dict[str, Any]] = {}

        def converged() -> bool:
            assert not supervisor.crashed(), supervisor.log_tail("source")
            seen.clear()
            seen.update(newest_per_key(kafka, topic))
            live = {key for key, event in seen.items() if event["op"] != "d"}
            return live == set(final) and all(
                seen[key]["source"]["position"] == format_position(row.updated_at, key) for key, row in final.items()
            )

        wait_until(converged, 120, "every change of the table in Kafka")
    finally:
        stop.set()
        writer.join()
        supervisor.stop_all()
    for key, row in final.items():
        after = seen[key]["after"]
        assert (after["full_name"], after["version"]) == (row.full_name, row.version)
        assert after["updated_at"] == row.updated_at.replace(tzinfo=UTC)
    deleted = [key for key, event in seen.items() if event["op"] == "d"]
    assert deleted, "the writer's deletes reached Kafka"
    assert all(seen[key]["before"]["id"] == int(key) for key in deleted)
