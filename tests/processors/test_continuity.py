"""How the processor's agents put back records the consumer skipped: a real topic, a real committed offset."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.continuity import Continuity
from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.publisher import Publisher
from seamline.topics import ensure_topics


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@pytest.fixture
def topic(kafka: KafkaConfig) -> str:
    """A topic whose partition 0 holds offsets 0..19."""
    name = f"{kafka.topic_prefix}continuity"
    ensure_topics(kafka, [name])
    publisher = Publisher(kafka)
    for number in range(20):
        publisher.producer.produce(name, value=str(number).encode(), partition=0)
    publisher.flush()
    publisher.close()
    return name


def commit(kafka: KafkaConfig, group: str, topic: str, offset: int) -> None:
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def records(topic: str, *offsets: int) -> list[Record]:
    return [Record(topic, 0, offset, None, str(offset).encode()) for offset in offsets]


def complete(continuity: Continuity, topic: str, *offsets: int) -> tuple[list[int], list[int]]:
    """The offsets of the completed batch, and of the records read back."""
    batch, refetched = asyncio.run(continuity.complete(records(topic, *offsets)))
    for record in batch:
        assert record.value == str(record.offset).encode()
    return [record.offset for record in batch], [record.offset for record in refetched]


def test_a_batch_from_the_committed_offset_on_is_left_as_it_is(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 5)
    continuity = Continuity(kafka, group)
    assert complete(continuity, topic, 5, 6, 7) == ([5, 6, 7], [])
    assert complete(continuity, topic, 6, 7, 8, 9) == ([6, 7, 8, 9], [])  # read again after a rebalance


def test_records_skipped_after_the_committed_offset_are_put_back_in_place(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 10)
    continuity = Continuity(kafka, group)
    assert complete(continuity, topic, 12, 13) == ([10, 11, 12, 13], [10, 11])


def test_records_skipped_within_a_run_are_put_back_in_place(kafka: KafkaConfig, topic: str) -> None:
    continuity = Continuity(kafka, f"{kafka.topic_prefix}fresh")  # nothing committed: from the first record on
    assert complete(continuity, topic, 0, 1, 2) == ([0, 1, 2], [])
    assert complete(continuity, topic, 4, 7) == ([3, 4, 5, 6, 7], [3, 5, 6])


def test_offsets_that_hold_no_records_may_be_jumped(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 2)
    admin = AdminClient(client_settings(kafka, "admin"))
    for future in admin.delete_records([TopicPartition(topic, 0, 15)]).values():  # as retention would
        future.result(timeout=15)
    continuity = Continuity(kafka, group)
    assert complete(continuity, topic, 15, 16) == ([15, 16], [])


def test_a_partition_assigned_anew_starts_again_from_its_committed_offset(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 0)
    continuity = Continuity(kafka, group)
    assert complete(continuity, topic, 0, 1) == ([0, 1], [])
    commit(kafka, group, topic, 8)  # another worker read on meanwhile
    continuity.keep_only([])
    assert complete(continuity, topic, 8, 9) == ([8, 9], [])
    continuity.keep_only([(topic, 0)])
    assert complete(continuity, topic, 12) == ([10, 11, 12], [10, 11])
