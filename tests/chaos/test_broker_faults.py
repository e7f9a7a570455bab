"""Broker faults: the pipeline of tests/chaos/oracle.py on a three-node Kafka cluster (replication factor 3,
min.insync.replicas 2) while the ERP changes. The node leading most of the pipeline's partitions is SIGKILLed and
restarted again and again, then all three nodes are SIGKILLed at once and restarted. Afterwards both targets must
hold the ERP's state with nothing lost, applied twice or out of order. CI: 1 leader kill; `make chaos`: 5
(docs/RELIABILITY.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from sandbox.erp import SampleData
from sandbox.s4hana import S4HanaSim
from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack import StackInfo
from seamline.stack.kafka_cluster import ClusterNode, KafkaCluster
from tests.chaos.oracle import (
    API_PASSWORD_VARIABLE,
    ErpWriter,
    add_sinks,
    keep_alive,
    pipeline_processes,
    run_with_faults,
    wait_alive,
)
from tests.conftest import wait_until

# exclusive: three more brokers (JVMs, fixed ports) SIGKILLed and restarted, with the pipeline's timing
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"
LEADER_KILLS = 5 if FULL else 1
KEYS, CHANGES, CHANGES_PER_S = (2_000, 20_000, 100.0) if FULL else (200, 300, 10.0)


@pytest.fixture
def cluster(stack: StackInfo) -> Iterator[KafkaCluster]:
    made = KafkaCluster(stack.state_dir)
    made.start()
    try:
        yield made
    finally:
        for node in made.nodes:
            node.kill()  # its data goes next: no need for a controlled shutdown
        made.purge()


@pytest.fixture
def replicated(stack: StackInfo, cluster: KafkaCluster, tmp_path: Path) -> Iterator[LocalPipeline]:
    """The chaos pipeline on the cluster, every topic it makes replicated three times."""
    on_cluster = dataclasses.replace(stack, bootstrap_servers=cluster.bootstrap_servers)
    made = LocalPipeline.create(on_cluster, f"b{uuid.uuid4().hex[:8]}", tmp_path / "pipeline")
    config = yaml.safe_load(made.config_path.read_text())
    config["kafka"]["replication_factor"] = 3
    made.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    try:
        yield made
    finally:
        made.destroy(stack.postgres_dsn)


def partitions(kafka: KafkaConfig) -> list[tuple[int, tuple[int, ...], tuple[int, ...]]]:
    """(leader, replicas, in-sync replicas) of each partition of the pipeline's topics, its processor's too
    (`<pipeline>-processor-…`)."""
    admin = AdminClient(client_settings(kafka, "admin"))
    topics = admin.list_topics(timeout=15).topics
    return [
        (partition.leader, tuple(partition.replicas), tuple(partition.isrs))
        for name, topic in topics.items()
        if name.startswith(kafka.topic_prefix.rstrip("."))
        for partition in topic.partitions.values()
    ]


def busiest_leader(cluster: KafkaCluster, kafka: KafkaConfig) -> ClusterNode:
    """The node that leads most of the pipeline's partitions."""
    leaders = Counter(leader for leader, _, _ in partitions(kafka) if leader >= 0)
    return cluster.node(leaders.most_common(1)[0][0])


def fully_replicated(kafka: KafkaConfig) -> bool:
    found = partitions(kafka)
    return bool(found) and all(len(isr) == len(replicas) == 3 and leader >= 0 for leader, replicas, isr in found)


def test_leader_kills_and_a_full_cluster_restart_lose_nothing(
    monkeypatch: pytest.MonkeyPatch,
    cluster: KafkaCluster,
    erp_api: S4HanaSim,
    replicated: LocalPipeline,
    tmp_path: Path,
) -> None:
    rng = random.Random(29)
    pipeline = replicated
    kafka = pipeline.config.kafka
    monkeypatch.setenv(API_PASSWORD_VARIABLE, erp_api.password)
    add_sinks(pipeline, erp_api)
    supervisor = pipeline_processes(pipeline, tmp_path / "logs")
    writer = ErpWriter(pipeline, SampleData(seed=31, invalid_every=10**9), CHANGES, CHANGES_PER_S)
    killed: list[int] = []
    full_restart_s = 0.0

    def after(changes: int) -> None:
        wait_alive([supervisor], lambda: writer.done >= changes, 600, f"{changes} changes")

    def faults() -> None:
        nonlocal full_restart_s
        for kill in range(LEADER_KILLS):
            after(int(CHANGES * (0.2 + 0.5 * kill / LEADER_KILLS)))
            wait_until(lambda: fully_replicated(kafka), 120, "every partition to have three in-sync replicas")
            leader = busiest_leader(cluster, kafka)
            leader.kill()
            killed.append(leader.node_id)
            keep_alive([supervisor], rng.uniform(3.0, 8.0))  # the pipeline goes on with two nodes
            cluster.start(leader)
        after(int(CHANGES * 0.8))
        restart_started = time.monotonic()
        for node in cluster.nodes:
            node.kill()
        keep_alive([supervisor], rng.uniform(2.0, 5.0))
        cluster.start()
        full_restart_s = time.monotonic() - restart_started

    run = run_with_faults(pipeline, erp_api, [supervisor], writer, KEYS, faults)
    figures = {
        "keys": KEYS,
        "leader_sigkills": killed,
        "full_restart_s": round(full_restart_s, 1),
        "restarts_on_exit_75": dict(supervisor.restarts),
        **run.figures(),
    }
    print("\n" + json.dumps(figures, indent=1))
    run.judge(pipeline, KEYS)
    assert len(killed) == LEADER_KILLS
