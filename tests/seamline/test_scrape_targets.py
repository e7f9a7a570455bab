"""Every seamline process registers its metrics endpoint with the local stack's Prometheus while it runs: a real
sink is scraped `up` once started, unregistered by SIGTERM, and what a SIGKILL leaves is cleaned up by `seamline
status`, which shows the targets' health."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from seamline.config import KafkaConfig, load_config
from seamline.operations.status import StatusReader
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.stack.scrape_targets import ScrapeTarget, local_prometheus, owner, register, remove_stale
from seamline.topics import canonical_topic, ensure_topics
from tests.conftest import wait_until


def test_only_the_files_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead, alive = child.pid, os.getpid()
    files = {
        name: tmp_path / name
        for name in (
            f"sink-warehouse-{dead}-9103.json",
            f"source-erp-2-{alive}-9101.json",
            "processor-legacy.json",
            "sink-t1234-sink.json",
        )
    }
    for path in files.values():
        path.write_text("[]")
    assert [owner(path) for path in files.values()] == [dead, alive, None, None]
    assert remove_stale(tmp_path) == [files[f"sink-warehouse-{dead}-9103.json"]]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(list(files)[1:])


def test_without_a_local_stack_nothing_is_registered_or_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEAMLINE_STATE_DIR", str(tmp_path / "state"))
    assert local_prometheus() is None
    assert register("sink", "warehouse", 9103) is None
    assert not (tmp_path / "state").exists()


def sink_config(path: Path, kafka: KafkaConfig, database: str) -> Path:
    settings = {
        "kafka": kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"}),
        "sinks": {
            "warehouse": {
                "kind": "postgres",
                "dsn": database,
                "tables": {"customer": "customers"},
                "group_id": f"{kafka.topic_prefix}warehouse",
                "metrics_port": free_port(),
            }
        },
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def registered(targets: Path, port: int) -> list[Path]:
    return sorted(targets.glob(f"sink-warehouse-*-{port}.json"))


def scraped(stack: StackInfo, instance: str) -> str | None:
    """The health Prometheus gives the target, None while it has none."""
    answer = httpx.get(f"{stack.prometheus_url}/api/v1/targets", params={"state": "active"}, timeout=5).json()
    found = [t["health"] for t in answer["data"]["activeTargets"] if t["labels"]["instance"] == instance]
    return found[0] if found else None


@pytest.mark.slow
def test_a_sink_is_scraped_while_it_runs_and_its_registration_ends_with_it(
    stack: StackInfo, kafka: KafkaConfig, database: str, tmp_path: Path
) -> None:
    prometheus = local_prometheus()
    assert prometheus is not None, "the stack's Prometheus has a targets directory"
    config = sink_config(tmp_path / "seamline.yaml", kafka, database)
    port = load_config(config).sinks["warehouse"].metrics_port
    instance = f"127.0.0.1:{port}"
    ensure_topics(kafka, [canonical_topic(kafka, "customer")])
    supervisor = Supervisor(config, tmp_path / "logs", {"warehouse": ["sink", "run", "warehouse"]})
    supervisor.start("warehouse")
    try:
        pid = supervisor.children["warehouse"].pid
        wait_until(lambda: scraped(stack, instance) == "up", 60, f"Prometheus to scrape the sink at {instance}")
        assert [owner(path) for path in registered(prometheus.targets, port)] == [pid]
        look = StatusReader(load_config(config)).look()
        assert look.targets == [ScrapeTarget("seamline-sink", "sink-warehouse", instance, "up", "")]
        assert ("prometheus", True) in [(part.name, part.up) for part in look.health]

        supervisor.stop_all()  # SIGTERM
        assert registered(prometheus.targets, port) == []
        wait_until(lambda: scraped(stack, instance) is None, 60, "Prometheus to drop the stopped sink")

        supervisor.start("warehouse")
        wait_until(lambda: bool(registered(prometheus.targets, port)), 60, "the restarted sink to register")
        supervisor.kill("warehouse")  # SIGKILL: no exit hook runs
        assert len(registered(prometheus.targets, port)) == 1, "a killed process leaves its file"
        StatusReader(load_config(config)).look()
        assert registered(prometheus.targets, port) == [], "status removes the file of a process that is gone"
        wait_until(lambda: scraped(stack, instance) is None, 60, "Prometheus to drop the killed sink")
    finally:
        supervisor.stop_all()
        for path in registered(prometheus.targets, port):
            path.unlink()
