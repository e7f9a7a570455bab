"""The processor as real processes on the real stack: SIGKILL at random points, lost RocksDB state, rebalances.

Raw changes are published straight to the source topics; after each phase of tests/processors/fault_stream.py
the canonical topics must hold what the in-process Harness computes from the same changes.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka.admin import AdminClient

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import end_offset, read_to_end
from seamline.topics import dlq_topic, identity_topic
from tests.canonical_topics import Canonical
from tests.command import seamline
from tests.conftest import wait_until
from tests.processors.fault_stream import Phase, fault_stream
from tests.processors.raw_events import publish

pytestmark = pytest.mark.slow

ENTITIES = ("customer", "product", "sales_order")
VOLATILE = ("version", "updated_at", "origin")


def write_config(
    path: Path, kafka: KafkaConfig, processor: dict[str, Any], app_id: str, data_dir: Path, partitions: int = 1
) -> Path:
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    section = {**processor, "app_id": app_id, "data_dir": str(data_dir), "metrics_port": free_port()}
    section["resolve_partitions"] = partitions
    section["batch_size"] = 100
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": section}, allow_unicode=True))
    return path


def content(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records without their volatile fields, decimals as the canonical text at their scale (the Avro reader gives
    Decimals); lines without the null fields the Avro reader fills in."""
    result = {}
    for key, record in records.items():
        kept = {k: _text(v) for k, v in record.items() if k not in VOLATILE}
        if kept.get("lines"):
            kept["lines"] = [{k: _text(v) for k, v in line.items() if v is not None} for line in kept["lines"]]
        result[key] = kept
    return result


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def difference(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between the Harness's canonical records and the topics'."""
    want = content(expected)
    got = content(actual)
    problems = [f"missing {key}" for key in sorted(want.keys() - got.keys())]
    problems += [f"unexpected {key}: {got[key]}" for key in sorted(got.keys() - want.keys())]
    problems += [
        f"{key}: want {want[key]}, got {got[key]}" for key in sorted(want) if key in got and want[key] != got[key]
    ]
    return problems


def wait_for_state(canonical: Canonical, expected: dict[str, dict[str, Any]], alive: list[Supervisor]) -> float:
    """Wait (bounded) until the canonical topics hold `expected`; seconds waited."""
    started = time.monotonic()
    problems: list[str] = []

    def reached() -> bool:
        for supervisor in alive:
            crashed = supervisor.crashed()
            assert not crashed, f"processor exited: {crashed}\n" + "\n".join(map(supervisor.log_tail, crashed))
        nonlocal problems
        problems = difference(expected, canonical.read()[0])
        return not problems

    try:
        wait_until(reached, 150, "the canonical topics to match the Harness", interval=2.0)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {len(problems)} differences\n" + "\n".join(problems[:15])) from None
    return time.monotonic() - started


def assert_versions_consistent(history: dict[str, list[dict[str, Any]]]) -> None:
    """Per key, new versions only ever go up and the last record is the newest; one version of a key always
    stands for the same record. A crash resolves a batch again, so its versions may come again, identical."""
    for key, records in history.items():
        versions = [record["version"] for record in records]
        firsts = list(dict.fromkeys(versions))
        assert firsts == sorted(firsts) and versions[-1] == max(versions), f"{key}: versions went down: {versions}"
        by_version: dict[int, dict[str, Any]] = {}
        for record in records:
            assert by_version.setdefault(record["version"], record) == record, f"{key} v{record['version']} differs"


def assert_no_dead_letters(kafka: KafkaConfig) -> None:
    for stage in ("cleanse", "resolve"):
        letters = list(read_to_end(kafka, dlq_topic(kafka, stage)))
        assert letters == [], f"{len(letters)} dead letters in dlq.{stage}: {[m.headers() for m in letters[:3]]}"


def chunks(phase: Phase, size: int) -> list[list[Any]]:
    return [phase.changes[i : i + size] for i in range(0, len(phase.changes), size)]


@pytest.mark.parametrize("partitions", [1, 4], ids=["one-identity-partition", "four-identity-partitions"])
def test_sigkill_at_random_points_and_lost_rocksdb_state_change_nothing(
    kafka: KafkaConfig, tmp_path: Path, partitions: int
) -> None:
    rng = random.Random(20240607)
    processor, phases = fault_stream(seed=3, scale=2)
    data_dir = tmp_path / "state"
    app_id = f"{kafka.topic_prefix}faults-kill"
    config = write_config(tmp_path / "p.yaml", kafka, processor, app_id, data_dir, partitions)
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    canonical = Canonical(kafka, ENTITIES)
    batches = [(index, chunk) for index, phase in enumerate(phases) for chunk in chunks(phase, 150)]
    kill_after = set(rng.sample(range(len(batches)), 3))
    wipe_at = rng.choice(sorted(kill_after))
    kills, wipes, waits = 0, 0, []
    since_start = 0
    supervisor.start("processor")
    try:
        for position, (index, chunk) in enumerate(batches):
            publish(kafka, chunk)
            if position in kill_after:
                # Kill while it works: once this run of the processor has cleansed something new, at a random moment.
                progressed = lambda floor=since_start: end_offset(kafka, identity_topic(kafka)) > floor  # noqa: E731
                wait_until(progressed, 90, "the restarted processor to make progress")
                time.sleep(rng.uniform(0.0, 1.5))
                supervisor.kill("processor")
                kills += 1
                if position == wipe_at:
                    shutil.rmtree(data_dir)  # the tables must come back from their changelog topics
                    wipes += 1
                since_start = end_offset(kafka, identity_topic(kafka))
                supervisor.start("processor")
            if position + 1 == len(batches) or batches[position + 1][0] != index:
                waits.append(round(wait_for_state(canonical, phases[index].expected, [supervisor]), 1))
        live, history = canonical.read()
        assert difference(phases[-1].expected, live) == []
        assert_versions_consistent(history)
        assert_no_dead_letters(kafka)
    finally:
        supervisor.stop_all()
    changes = sum(len(phase.changes) for phase in phases)
    restarts = supervisor.restarts.get("processor", 0)
    print(f"\n{changes} changes, {kills} SIGKILLs ({wipes} with the state deleted), {restarts} restarts on exit 75,")
    print(f"phase waits {waits}s")
    assert kills == 3 and wipes == 1


def group_members(kafka: KafkaConfig, group: str, topic: str) -> dict[str, int]:
    """Member id -> number of partitions of `topic` assigned, from the broker's view of the consumer group."""
    admin = AdminClient(client_settings(kafka, "admin"))
    description = admin.describe_consumer_groups([group])[group].result(timeout=15)
    return {
        member.member_id: sum(tp.topic == topic for tp in member.assignment.topic_partitions)
        for member in description.members
    }


def test_two_workers_share_the_work_and_survive_a_rebalance(kafka: KafkaConfig, tmp_path: Path) -> None:
    """Both workers resolve: the four identity partitions split over them, and over one while the other is away."""
    processor, phases = fault_stream(seed=5, scale=1)
    app_id = f"{kafka.topic_prefix}faults-pair"
    workers = {
        name: Supervisor(
            write_config(tmp_path / f"{name}.yaml", kafka, processor, app_id, tmp_path / f"state-{name}", 4),
            tmp_path / "logs",
            {name: ["process"]},
        )
        for name in ("a", "b")
    }
    canonical = Canonical(kafka, ENTITIES)
    try:
        for name, worker in workers.items():
            worker.start(name)
        publish(kafka, phases[0].changes)
        members: dict[str, int] = {}

        def both_assigned() -> bool:
            nonlocal members
            members = group_members(kafka, app_id, identity_topic(kafka))
            return len(members) == 2 and all(members.values())

        wait_until(both_assigned, 90, "two members with partitions in the consumer group", interval=2.0)
        wait_for_state(canonical, phases[0].expected, list(workers.values()))

        stopped = workers["b"].children.pop("b")
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(60) is not None
        publish(kafka, phases[1].changes)
        wait_for_state(canonical, phases[1].expected, [workers["a"]])

        workers["b"].start("b")
        publish(kafka, phases[2].changes)
        wait_until(both_assigned, 90, "the restarted worker back in the group", interval=2.0)
        wait_for_state(canonical, phases[2].expected, list(workers.values()))
        live, history = canonical.read()
        assert difference(phases[-1].expected, live) == []
        assert_versions_consistent(history)
        assert_no_dead_letters(kafka)
    finally:
        for worker in workers.values():
            worker.stop_all()


def test_a_worker_that_cannot_reach_kafka_exits_75_to_be_restarted(kafka: KafkaConfig, tmp_path: Path) -> None:
    processor, _ = fault_stream(seed=5, scale=1)
    unreachable = kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    config = write_config(tmp_path / "p.yaml", unreachable, processor, f"{kafka.topic_prefix}nowhere", tmp_path / "s")
    done = seamline("process", "--config", str(config), timeout=120)
    assert done.returncode == 75, done.stdout[-2000:] + done.stderr[-2000:]
