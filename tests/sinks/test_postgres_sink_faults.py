"""The postgres sink as a real process on real Kafka: SIGKILLed mid-batch again and again, then restarted, it
loses nothing and has no effect twice; versions arriving shuffled end at the highest."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from pydantic import SecretStr

from seamline.config import KafkaConfig
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topics import canonical_topic, ensure_topics
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget
from tests.conftest import wait_until
from tests.sinks.canonical_records import Change, customer, order, publish

pytestmark = pytest.mark.slow

CUSTOMERS, ORDERS, KILLS = 300, 100, 3
TABLES = {"customer": "customers", "sales_order": "orders"}

# Every row the sink inserts, updates or deletes is logged in the sink's own transaction (a killed batch logs
# nothing), and each costs 5 ms so that a batch takes long enough for the kills to land inside it.
AUDIT = """
CREATE TABLE audit (seq bigserial PRIMARY KEY, tab text, op text, id text, version bigint);
CREATE FUNCTION audited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.005);
  IF TG_OP = 'DELETE' THEN
    INSERT INTO audit (tab, op, id, version) VALUES (TG_TABLE_NAME, TG_OP, OLD.id, OLD.version);
  ELSE
    INSERT INTO audit (tab, op, id, version) VALUES (TG_TABLE_NAME, TG_OP, NEW.id, NEW.version);
  END IF;
  RETURN NULL;
END $$;
"""


def shuffled_changes(rng: random.Random) -> list[Change]:
    """Versions 1-3 of every customer (every tenth also a deleted version 4, then its tombstone) and 1-3 of every
    order, each entity's versions in a random order; the tombstones come last, as after the deleted version."""
    versions: list[Change] = []
    tombstones: list[Change] = []
    for number in range(CUSTOMERS):
        versions += [("customer", f"c{number}", customer(number, version)) for version in (1, 2, 3)]
        if number % 10 == 0:
            versions.append(("customer", f"c{number}", customer(number, 4, deleted=True)))
            tombstones.append(("customer", f"c{number}", None))
    for number in range(ORDERS):
        versions += [("sales_order", f"o{number}", order(number, version)) for version in (1, 2, 3)]
    rng.shuffle(versions)
    return versions + tombstones


def sink_config(path: Path, kafka: KafkaConfig, database: str) -> None:
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    warehouse = {
        "kind": "postgres",
        "dsn": database,
        "tables": TABLES,
        "batch_size": 50,
        "group_id": f"{kafka.topic_prefix}warehouse",
        "metrics_port": free_port(),
    }
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "sinks": {"warehouse": warehouse}}))


def audit(database: str) -> list[tuple[str, str, str, int]]:
    with psycopg.connect(database) as conn:
        return conn.execute("SELECT tab, op, id, version FROM audit ORDER BY seq").fetchall()


def target_state(database: str) -> dict[str, Any]:
    with psycopg.connect(database) as conn:
        return {
            "customers": dict(conn.execute("SELECT id, version FROM customers").fetchall()),
            "orders": dict(conn.execute("SELECT id, version FROM orders").fetchall()),
            "lines": conn.execute("SELECT count(*), min(quantity), max(quantity) FROM orders_lines").fetchone(),
        }


def expected_state() -> dict[str, Any]:
    return {
        "customers": {f"c{n}": 3 for n in range(CUSTOMERS) if n % 10},
        "orders": {f"o{n}": 3 for n in range(ORDERS)},
        "lines": (3 * ORDERS, 3, 3),
    }


def test_a_sink_killed_mid_batch_and_restarted_loses_nothing_and_has_no_effect_twice(
    kafka: KafkaConfig, database: str, tmp_path: Path
) -> None:
    rng = random.Random(17)
    ensure_topics(kafka, [canonical_topic(kafka, entity) for entity in TABLES])
    publish(kafka, shuffled_changes(rng))
    sink_config(tmp_path / "sink.yaml", kafka, database)
    supervisor = Supervisor(tmp_path / "sink.yaml", tmp_path / "logs", {"sink": ["sink", "run", "warehouse"]})
    tables = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(database), tables=TABLES))
    tables.setup()
    tables.close()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(AUDIT)
        for table in TABLES.values():
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER audited AFTER INSERT OR UPDATE OR DELETE ON {} "
                    "FOR EACH ROW EXECUTE FUNCTION audited()"
                ).format(sql.Identifier(table))
            )
    supervisor.start("sink")
    progress_at_kills = [0]
    try:
        for _ in range(KILLS):
            # Each kill waits for the restarted sink to write something, however slow its start on this machine.
            wait_until(
                lambda: len(audit(database)) > progress_at_kills[-1] or bool(supervisor.crashed()),
                60,
                "the sink to write",
                interval=0.05,
            )
            if supervisor.crashed():
                pytest.fail(f"the sink exited: {supervisor.crashed()}\n{supervisor.log_tail('sink')}")
            time.sleep(rng.uniform(0.0, 0.3))
            supervisor.kill("sink")
            progress_at_kills.append(len(audit(database)))
            supervisor.start("sink")
        wait_until(lambda: target_state(database) == expected_state(), 120, "the target to hold every newest version")
    finally:
        supervisor.stop_all()
    log = audit(database)
    assert any(0 < done < len(log) for done in progress_at_kills[1:]), f"no kill landed mid-stream: {progress_at_kills}"
    writes = [(tab, id, version) for tab, op, id, version in log if op != "DELETE"]
    assert len(writes) == len(set(writes)), "a version was written twice"
    newest: dict[tuple[str, str], int] = {}
    for tab, op, id, version in log:
        if op != "DELETE":
            assert version > newest.get((tab, id), 0), f"{tab} {id}: version {version} written after a newer one"
            newest[(tab, id)] = version
    deleted = {id for tab, op, id, _ in log if op == "DELETE"}
    assert deleted <= {f"c{n}" for n in range(0, CUSTOMERS, 10)}, "only deleted customers are deleted"
