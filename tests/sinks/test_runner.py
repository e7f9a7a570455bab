"""The sink runner on real Kafka: a target that fails for a while pauses the input, and nothing is lost; a stop
while it fails ends the run without committing; a commit is retried while the group's coordinator moves."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, Sink, SinkRecord, TargetFailing
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.retry import ServerUnavailable
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic, ensure_topics
from sinks import runner as runner_module
from sinks.runner import SinkRunner
from tests.chaos.test_hostile_records import committed
from tests.conftest import wait_until

RECORDS = 300


class FailingAtFirst(Sink):
    """A target that answers 503 (Retry-After: 0.3 s) until `down_s` have passed, then takes every batch."""

    def __init__(self, down_s: float) -> None:
        self.until = time.monotonic() + down_s
        self.failures = 0
        self.written: list[tuple[str, int]] = []

    def setup(self) -> None:
        pass

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        if time.monotonic() < self.until:
            self.failures += 1
            raise ServerUnavailable("503 from the target", retry_after_s=0.3)
        self.written.extend((record.id, record.value["version"]) for record in records if record.value)
        return Outcome()

    def close(self) -> None:
        pass


def customer(number: int) -> dict[str, object]:
    return {
        "id": f"c{number}",
        "version": 1,
        "name": f"Customer {number}",
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.customers:{number}"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + number,
    }


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_failing_target_pauses_the_input_and_every_record_arrives_once(
    kafka: KafkaConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner_module, "_RETRY_ROUND_S", 1.0)  # several rounds of retries, the input paused between
    topic = canonical_topic(kafka, "customer")
    ensure_topics(kafka, [topic])
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    for number in range(RECORDS):
        value = customer(number)
        publisher.send(topic, serde.encode(topic, value), key=serde.encode(topic, value["id"], key=True))
    publisher.flush()
    sink, metrics = FailingAtFirst(down_s=4), Metrics.create()
    runner = SinkRunner("flaky", kafka, sink, ["customer"], metrics, batch_size=100)
    worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
    worker.start()
    try:
        wait_until(lambda: len(sink.written) >= RECORDS, 60, "every record to reach the target", interval=0.2)
    finally:
        runner.stop()
        worker.join(30)
    assert sorted(sink.written) == sorted((f"c{n}", 1) for n in range(RECORDS))
    assert sink.failures >= 5
    assert "input paused" in caplog.text
    assert sample(metrics, "seamline_sink_retries_total", sink="flaky") >= 5
    assert sample(metrics, "seamline_sink_writes_total", sink="flaky", entity="customer", outcome="written") == RECORDS


class Refusing(FailingAtFirst):
    """A target that refuses every record, as one whose table lost a column does."""

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        self.failures += 1
        raise TargetFailing('column "name" of relation "customers" does not exist', "add the column back")


def test_a_stop_while_the_target_refuses_every_record_ends_the_run_without_committing_or_letters(
    kafka: KafkaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "_RETRY_ROUND_S", 1.0)
    topic = canonical_topic(kafka, "customer")
    ensure_topics(kafka, [topic])
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    for number in range(10):
        value = customer(number)
        publisher.send(topic, serde.encode(topic, value), key=serde.encode(topic, value["id"], key=True))
    publisher.flush()
    sink, metrics = Refusing(down_s=0), Metrics.create()
    runner = SinkRunner("refused", kafka, sink, ["customer"], metrics)
    worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
    worker.start()
    wait_until(lambda: sink.failures >= 3, 30, "attempts on the refusing target", interval=0.1)
    assert sample(metrics, "seamline_sink_failing", sink="refused") == 1
    runner.stop()
    worker.join(20)
    assert not worker.is_alive(), "the stop ended the run"
    assert committed(kafka, runner.group_id, topic) == 0, "the refused batch is read again at the next start"
    assert list(read_to_end(kafka, dlq_topic(kafka, "sink.refused"))) == []


class Committing:
    """A consumer at given positions (partition -> offset) whose commits fail with the given errors first."""

    def __init__(self, positions: dict[int, int], *failures: int) -> None:
        self.positions = positions
        self.failures = list(failures)
        self.committed: list[list[TopicPartition]] = []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", partition) for partition in self.positions]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in partitions]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.failures:
            raise KafkaException(KafkaError(self.failures.pop(0)))
        self.committed.append(offsets)


def test_a_commit_is_retried_while_the_coordinator_moves_and_dropped_after_a_rebalance(kafka: KafkaConfig) -> None:
    runner = SinkRunner("commits", kafka, FailingAtFirst(down_s=0), ["customer"], Metrics.create())
    moving = Committing(
        {0: 6, 1: 8, 2: -1001},
        KafkaError._WAIT_COORD,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    )
    runner._commit(moving)  # type: ignore[arg-type]
    assert [[(tp.partition, tp.offset) for tp in offsets] for offsets in moving.committed] == [[(0, 6), (1, 8)]]
    runner._commit(moving)  # type: ignore[arg-type]
    assert len(moving.committed) == 1, "a position that did not move is not committed again"
    moving.positions[1] = 9  # a transaction's marker: the position moves without a record
    runner._commit(moving)  # type: ignore[arg-type]
    assert [(tp.partition, tp.offset) for tp in moving.committed[-1]] == [(1, 9)]
    rebalanced = Committing({0: 7}, KafkaError.ILLEGAL_GENERATION)
    runner._commit(rebalanced)  # type: ignore[arg-type]
    assert rebalanced.committed == [] and rebalanced.failures == []
