"""postgres_cdc as a real process, SIGKILLed again and again while the database changes: single-row changes,
large transactions and COPYs of 1,000 rows, with kills landing right after those commit, while the source
decodes and publishes them. Every committed change must be on the topic (at least once). A replication slot
dropped under the source stops it with exit 2 and what to do, never a silent gap.
CI runs 4 restarts; `make chaos` 50 (docs/RELIABILITY.md)."""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from seamline.config import KafkaConfig
from seamline.operations.local_pipeline import drop_slot
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import end_offset, read_to_end
from seamline.topics import source_topic
from tests.command import seamline
from tests.conftest import wait_until
from tests.replication import wait_streaming

pytestmark = pytest.mark.slow

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"
RESTARTS = 50 if FULL else 4
LARGE_TRANSACTION = 2_000 if FULL else 500
COPY_ROWS = 1_000


class Ledger:
    """Every change the database committed, as (id, version) with version 0 for a delete."""

    def __init__(self) -> None:
        self.changes: set[tuple[int, int]] = set()
        self.committed = {"large": threading.Event(), "copy": threading.Event()}
        self.lock = threading.Lock()

    def add(self, changes: list[tuple[int, int]], kind: str | None = None) -> None:
        with self.lock:
            self.changes.update(changes)
        if kind is not None:
            self.committed[kind].set()


def write_changes(dsn: str, ledger: Ledger, stop: threading.Event) -> None:
    """Single-row inserts, updates and deletes; now and then a large transaction or a COPY of 1,000 rows."""
    rng = random.Random(5)
    versions: dict[int, int] = {}
    next_id = 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            roll = rng.random()
            if roll < 0.02 and versions:
                chosen = rng.sample(sorted(versions), min(LARGE_TRANSACTION, len(versions)))
                with conn.transaction():
                    conn.execute("UPDATE items SET version = version + 1 WHERE id = ANY(%s)", (chosen,))
                for item in chosen:
                    versions[item] += 1
                ledger.add([(item, versions[item]) for item in chosen], "large")
            elif roll < 0.04:
                rows = range(next_id, next_id + COPY_ROWS)
                buffer = io.StringIO("".join(f"{item}\t1\tcopied {item}\n" for item in rows))
                with conn.transaction(), conn.cursor().copy("COPY items (id, version, payload) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                versions.update({item: 1 for item in rows})
                next_id += COPY_ROWS
                ledger.add([(item, 1) for item in rows], "copy")
            elif roll < 0.1 and versions:
                item = rng.choice(sorted(versions))
                conn.execute("DELETE FROM items WHERE id = %s", (item,))
                del versions[item]
                ledger.add([(item, 0)])
            elif roll < 0.5 or not versions:
                conn.execute("INSERT INTO items (id, version, payload) VALUES (%s, 1, 'new')", (next_id,))
                versions[next_id] = 1
                ledger.add([(next_id, 1)])
                next_id += 1
            else:
                item = rng.choice(sorted(versions))
                conn.execute("UPDATE items SET version = version + 1 WHERE id = %s", (item,))
                versions[item] += 1
                ledger.add([(item, versions[item])])
            time.sleep(0.002)


def published(kafka: KafkaConfig, topic: str) -> set[tuple[int, int]]:
    """(id, version) of every change on the topic, version 0 for a delete."""
    serde = AvroSerde(kafka)
    found = set()
    for message in read_to_end(kafka, topic):
        event = serde.decode(topic, message.value())
        if event["op"] == "d":
            found.add((int(event["before"]["id"]), 0))
        elif event["after"] is not None:
            found.add((int(event["after"]["id"]), int(event["after"]["version"])))
    return found


@pytest.fixture
def source_config(stack: StackInfo, database: str, kafka: KafkaConfig, tmp_path: Path) -> Iterator[Path]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, version int NOT NULL, payload text)")
        conn.execute("ALTER TABLE items REPLICA IDENTITY FULL")
    slot = f"slot_{uuid.uuid4().hex[:12]}"
    config = {
        "kafka": kafka.model_dump(mode="json", include={"bootstrap_servers", "schema_registry_url", "topic_prefix"}),
        "sources": {
            "erp": {
                "kind": "postgres_cdc",
                "dsn": database,
                "system": "erp",
                "tables": ["items"],
                "slot": slot,
                "publication": f"pub_{uuid.uuid4().hex[:12]}",
                "metrics_port": free_port(),
            }
        },
    }
    path = tmp_path / "seamline.yaml"
    path.write_text(yaml.safe_dump(config))
    yield path
    drop_slot(stack.postgres_dsn, slot)


def test_restarts_anywhere_lose_no_committed_change(
    source_config: Path, database: str, kafka: KafkaConfig, stack: StackInfo, tmp_path: Path
) -> None:
    rng = random.Random(3)
    topic = source_topic(kafka, "erp", "items")
    supervisor = Supervisor(source_config, tmp_path / "logs", {"source": ["source", "run", "erp"]})
    ledger, stop = Ledger(), threading.Event()
    writer = threading.Thread(target=write_changes, args=(database, ledger, stop))
    landed: dict[str, int] = {"random": 0, "large": 0, "copy": 0}
    supervisor.start("source")
    wait_streaming(stack.postgres_dsn, yaml.safe_load(source_config.read_text())["sources"]["erp"]["slot"])
    writer.start()
    started = time.monotonic()
    try:
        for restart in range(RESTARTS):
            floor = end_offset(kafka, topic)

            def grown(floor: int = floor) -> bool:
                return end_offset(kafka, topic) > floor

            wait_until(grown, 120, f"the source to publish after start {restart}")
            kind = ("large", "copy", "random")[restart % 3]
            if kind == "random":
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # while the source decodes and publishes a large transaction or a COPY
                ledger.committed[kind].clear()
                wait_until(ledger.committed[kind].is_set, 120, f"a {kind} commit", interval=0.01)
                time.sleep(rng.uniform(0.0, 0.3))
            crashed = supervisor.crashed()
            assert not crashed, supervisor.log_tail("source")
            supervisor.kill("source")
            supervisor.start("source")
            landed[kind] += 1
        stop.set()
        writer.join(60)
        missing: set[tuple[int, int]] = set()

        def complete() -> bool:
            assert not supervisor.crashed(), supervisor.log_tail("source")
            missing.clear()
            missing.update(ledger.changes - published(kafka, topic))
            return not missing

        try:
            wait_until(complete, 180, "every committed change on the topic", interval=2.0)
        except TimeoutError:
            pass
    finally:
        stop.set()
        writer.join()
        supervisor.stop_all()
    figures = {
        "committed_changes": len(ledger.changes),
        "restarts": RESTARTS,
        "kills_after": landed,
        "missing": len(missing),
        "seconds": round(time.monotonic() - started, 1),
    }
    print("\n" + json.dumps(figures))
    assert missing == set(), f"{len(missing)} committed changes never published, e.g. {sorted(missing)[:10]}"
    assert landed["large"] and landed["copy"], landed


def test_a_dropped_slot_stops_the_source_saying_what_to_do(
    source_config: Path, database: str, stack: StackInfo, tmp_path: Path
) -> None:
    slot = yaml.safe_load(source_config.read_text())["sources"]["erp"]["slot"]
    supervisor = Supervisor(source_config, tmp_path / "logs", {"source": ["source", "run", "erp"]})
    supervisor.start("source")
    try:
        wait_streaming(stack.postgres_dsn, slot)
        with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute("INSERT INTO items VALUES (1, 1, 'before the slot was dropped')")
                inserted = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert inserted is not None

            def confirmed() -> bool:
                row = admin.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                    (inserted[0], slot),
                ).fetchone()
                return row is not None and bool(row[0])

            # read, published and confirmed: the source's position is committed, so its next start resumes from it
            # (a source without one takes the dropped slot for a first start and makes a new one)
            wait_until(confirmed, 60, "the source to confirm the insert")
            admin.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            )
            drop_slot(stack.postgres_dsn, slot)
        child = supervisor.children["source"]
        for _ in range(3):  # a transient exit (75) is restarted, as Compose or Kubernetes would
            wait_until(lambda running=child: running.poll() is not None, 60, "the source to stop")  # type: ignore[misc]
            if child.returncode != 75:
                break
            supervisor.start("source")
            child = supervisor.children["source"]
        log = supervisor.log_tail("source", 40)
        assert child.returncode == 2, log
        assert f"replication slot {slot} is gone" in log and "seamline source reset erp" in log, log
        reset = seamline("source", "reset", "erp", "--config", str(source_config))
        assert reset.returncode == 0 and "next start takes a new snapshot" in reset.stderr, reset.stdout + reset.stderr
        supervisor.start("source")
        with psycopg.connect(stack.postgres_dsn) as admin:
            wait_until(
                lambda: (
                    admin.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
                    is not None
                ),
                60,
                "a new slot after the reset",
            )
        assert supervisor.children["source"].poll() is None, supervisor.log_tail("source")
    finally:
        supervisor.stop_all()
