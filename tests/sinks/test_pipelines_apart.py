"""Two pipelines on one cluster under different topic prefixes, each with a sink named `warehouse`, on the real
stack: each sink reads in a group of its own pipeline and commits offsets of its own topics only (they shared
the group seamline-sink-warehouse before, which then held the offsets of both)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from confluent_kafka import Consumer, TopicPartition

from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, Sink, SinkRecord
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.subjects import delete_subjects
from seamline.topic_reader import watermarks
from seamline.topics import canonical_topic, delete_prefixed, ensure_topics, sink_group
from sinks.runner import SinkRunner
from tests.sinks.canonical_records import customer, publish

pytestmark = pytest.mark.slow


class Kept(Sink):
    """A target that keeps the ids it was given."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def setup(self) -> None:
        pass

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        self.ids += [record.id for record in records]
        return Outcome()

    def close(self) -> None:
        pass


@pytest.fixture
def second(kafka: KafkaConfig) -> Iterator[KafkaConfig]:
    """Another pipeline on the same cluster: the same settings under another prefix."""
    other = kafka.model_copy(update={"topic_prefix": f"{kafka.topic_prefix}other."})
    yield other
    delete_subjects(other, delete_prefixed(other))


def committed_topics(kafka: KafkaConfig, group: str, topics: list[str]) -> set[str]:
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        wanted = [TopicPartition(topic, p) for topic in topics for p in range(kafka.partitions)]
        return {tp.topic for tp in consumer.committed(wanted, timeout=15) if tp.offset >= 0}
    finally:
        consumer.close()


def test_two_pipelines_sinks_of_one_name_read_in_groups_of_their_own(kafka: KafkaConfig, second: KafkaConfig) -> None:
    kept = {}
    for pipeline, first_number in ((kafka, 1), (second, 100)):
        topic = canonical_topic(pipeline, "customer")
        ensure_topics(pipeline, [topic])
        publish(pipeline, [("customer", f"c{n}", customer(n, 1)) for n in range(first_number, first_number + 5)])
        ends = {(topic, p): high for p in range(pipeline.partitions) if (high := _end(pipeline, topic, p))}
        kept[pipeline.topic_prefix] = Kept()
        SinkRunner("warehouse", pipeline, kept[pipeline.topic_prefix], ["customer"], Metrics.create()).run(
            stop_on_signals=False, until=ends
        )
    assert sorted(kept[kafka.topic_prefix].ids) == sorted(f"c{n}" for n in range(1, 6))
    assert sorted(kept[second.topic_prefix].ids) == sorted(f"c{n}" for n in range(100, 105))
    groups = {sink_group(pipeline, "warehouse", None): pipeline for pipeline in (kafka, second)}
    assert set(groups) == {
        f"{kafka.topic_prefix}seamline-sink-warehouse",
        f"{second.topic_prefix}seamline-sink-warehouse",
    }
    topics = [canonical_topic(pipeline, "customer") for pipeline in (kafka, second)]
    for group, pipeline in groups.items():
        assert committed_topics(kafka, group, topics) == {canonical_topic(pipeline, "customer")}
    assert committed_topics(kafka, "seamline-sink-warehouse", topics) == set(), "the group both shared before"


def _end(kafka: KafkaConfig, topic: str, partition: int) -> int:
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": f"{kafka.topic_prefix}ends"}))
    try:
        return watermarks(consumer, topic, partition)[1]
    finally:
        consumer.close()
