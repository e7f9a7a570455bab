"""`seamline status` on the real stack: health of the stack and of each configured process, consumer group lag and
committed records, DLQ depth per stage, and the sources' stored positions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from producers.positions import PositionStore
from seamline.config import KafkaConfig
from seamline.connectors.source import Checkpoint
from seamline.dead_letters.writer import DeadLetters, Failed
from seamline.metrics import Metrics
from seamline.publisher import Publisher, TransactionalPublisher
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topics import canonical_topic, ensure_topics, offsets_topic
from tests.conftest import wait_until
from tests.sinks.canonical_records import customer, publish

pytestmark = pytest.mark.slow


def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seamline", "status", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_status_reports_health_lag_dead_letters_and_positions(
    kafka: KafkaConfig, database: str, tmp_path: Path
) -> None:
    group = f"{kafka.topic_prefix}warehouse"
    settings: dict[str, Any] = {
        "kafka": kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"}),
        "sources": {
            "erp": {
                "kind": "postgres_cdc",
                "dsn": database,
                "system": "erp",
                "tables": ["customers"],
                "slot": "status_slot",
                "publication": "status_pub",
                "metrics_port": free_port(),
            }
        },
        "sinks": {
            "warehouse": {
                "kind": "postgres",
                "dsn": database,
                "tables": {"customer": "customers"},
                "group_id": group,
                "metrics_port": free_port(),
            }
        },
    }
    config = tmp_path / "seamline.yaml"
    config.write_text(yaml.safe_dump(settings))
    ensure_topics(kafka, [canonical_topic(kafka, "customer"), offsets_topic(kafka)])
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(40)])
    publisher = Publisher(kafka)
    DeadLetters(kafka, publisher, "cleanse", Metrics.create()).send(
        Failed("src.erp.customers", 0, 3, b"k", b"v", "InvalidField", "phone: not a number (text(4))")
    )
    resolving = TransactionalPublisher(kafka, f"{kafka.topic_prefix}status-test")  # as a resolve batch writes
    resolving.begin()
    DeadLetters(kafka, resolving, "resolve", Metrics.create()).send(
        Failed("seamline.identity", 0, 9, None, b"item", "InvalidRecord", "not a change")
    )
    resolving.commit()
    resolving.close()
    PositionStore(kafka, AvroSerde(kafka), publisher).save("erp", Checkpoint("0/16B3748", True))
    publisher.flush()
    publisher.close()

    supervisor = Supervisor(config, tmp_path / "logs", {"warehouse": ["sink", "run", "warehouse"]})
    supervisor.start_all()
    try:

        def looked() -> dict[str, Any]:
            done = status(config, "--json")
            assert done.stdout, done.stderr
            return dict(json.loads(done.stdout))

        wait_until(lambda: looked()["groups"][0]["committed"] == 40, 90, "the sink to commit every record")
        done = status(config, "--json")
        look = json.loads(done.stdout)
        tables = status(config)
    finally:
        supervisor.stop_all()

    health = {part["name"]: part["up"] for part in look["health"]}
    assert health == {
        "kafka": True,
        "schema registry": True,
        "source erp": False,
        "sink warehouse": True,
        "prometheus": True,
    }
    assert done.returncode == 1, "a configured process that does not answer makes status fail"
    assert look["groups"] == [
        {"group": group, "process": "sink warehouse", "lag": 0, "committed": 40, "per_second": None}
    ]
    assert look["dead_letters"] == {"cleanse": 1, "resolve": 1, "sink.warehouse": 0}  # a letter, not its marker
    assert look["positions"][0]["source"] == "erp" and look["positions"][0]["position"] == "0/16B3748"
    assert "records/s" in tables.stdout and "0/16B3748" in tables.stdout and "down" in tables.stdout
