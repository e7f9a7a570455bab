"""How the processor's agents put back records the consumer skipped, leave out records read twice and notice a
partition whose last records never arrived: a real topic, a real committed offset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.continuity import Continuity, Partition
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
    continuity = Continuity(kafka, group, [topic])
    assert complete(continuity, topic, 5, 6, 7) == ([5, 6, 7], [])


def test_records_read_again_after_a_rebalance_are_left_out(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 5)
    continuity = Continuity(kafka, group, [topic])
    assert complete(continuity, topic, 5, 6, 7) == ([5, 6, 7], [])
    continuity.keep_only([(topic, 0)])  # kept: the consumer reads on from the committed offset, 5
    assert complete(continuity, topic, 5, 6, 7, 8, 9) == ([8, 9], [])


def test_records_skipped_after_the_committed_offset_are_put_back_in_place(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 10)
    continuity = Continuity(kafka, group, [topic])
    assert complete(continuity, topic, 12, 13) == ([10, 11, 12, 13], [10, 11])


def test_records_skipped_within_a_run_are_put_back_in_place(kafka: KafkaConfig, topic: str) -> None:
    continuity = Continuity(kafka, f"{kafka.topic_prefix}fresh", [topic])  # nothing committed: from the first record on
    assert complete(continuity, topic, 0, 1, 2) == ([0, 1, 2], [])
    assert complete(continuity, topic, 4, 7) == ([3, 4, 5, 6, 7], [3, 5, 6])


def test_offsets_that_hold_no_records_may_be_jumped(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 2)
    admin = AdminClient(client_settings(kafka, "admin"))
    for future in admin.delete_records([TopicPartition(topic, 0, 15)]).values():  # as retention would
        future.result(timeout=15)
    continuity = Continuity(kafka, group, [topic])
    assert complete(continuity, topic, 15, 16) == ([15, 16], [])


def test_a_partition_assigned_anew_starts_again_from_its_committed_offset(kafka: KafkaConfig, topic: str) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 0)
    continuity = Continuity(kafka, group, [topic])
    assert complete(continuity, topic, 0, 1) == ([0, 1], [])
    commit(kafka, group, topic, 8)  # another worker read on meanwhile
    continuity.keep_only([])
    assert complete(continuity, topic, 8, 9) == ([8, 9], [])
    continuity.keep_only([(topic, 0)])
    assert complete(continuity, topic, 12) == ([10, 11, 12], [10, 11])


def end_offsets(kafka: KafkaConfig) -> Callable[[list[Partition]], Awaitable[Mapping[Partition, int]]]:
    async def ends(partitions: list[Partition]) -> Mapping[Partition, int]:
        consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": "seamline-test-watermarks"}))
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(*p), timeout=15)[1] for p in partitions}
        finally:
            consumer.close()

    return ends


def stalled(continuity: Continuity, kafka: KafkaConfig) -> dict[Partition, int]:
    return asyncio.run(continuity.stalled(end_offsets(kafka)))


def test_a_partition_whose_last_records_never_arrive_is_read_again_from_the_next_expected(
    kafka: KafkaConfig, topic: str
) -> None:
    group = f"{kafka.topic_prefix}group"
    commit(kafka, group, topic, 5)
    continuity = Continuity(kafka, group, [topic], stall_after=0.5)
    continuity.keep_only([(topic, 0), ("another-agents-topic", 0)])
    assert stalled(continuity, kafka) == {}  # not quiet for long enough yet
    time.sleep(0.6)
    assert stalled(continuity, kafka) == {(topic, 0): 5}  # nothing ever arrived: from the committed offset
    assert stalled(continuity, kafka) == {}  # just sought: give the consumer time again
    assert complete(continuity, topic, 5, 6, 7) == ([5, 6, 7], [])
    time.sleep(0.6)
    assert stalled(continuity, kafka) == {}  # still processing the batch: the rest may be on its way
    continuity.finished()
    time.sleep(0.6)
    assert stalled(continuity, kafka) == {(topic, 0): 8}
    assert complete(continuity, topic, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)[0][-1] == 19
    continuity.finished()
    time.sleep(0.6)
    assert stalled(continuity, kafka) == {}  # caught up with the end
