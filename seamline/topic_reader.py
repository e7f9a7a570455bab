"""Reading a whole topic, from its beginning to the end it has now (positions, dead letters, checks)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.retry import retrying


@dataclass
class ReadRecord:
    """One record read from a topic outside a consumer group (decisions, referenced keys), as a batch dead-letters
    it if it cannot be applied."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def record_position(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record read from Kafka: confluent-kafka types each optional, as an error
    event has none."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None, f"not a record: {message.error()}"
    return topic, partition, offset


def watermarks(consumer: Consumer, topic: str, partition: int, timeout_s: float = 60.0) -> tuple[int, int]:
    """(low, high) offsets of a partition, retried while its leader is not known yet or is moving (a topic
    created a moment ago, a leader election)."""
    for attempt in retrying(timeout_s=timeout_s):
        with attempt:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
    return low, high


def end_offset(kafka: KafkaConfig, topic: str) -> int:
    """The sum of the end offsets of the topic's partitions, 0 if it does not exist yet: it grows with every record."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": f"seamline-reader-{uuid.uuid4()}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics[topic]
        if metadata.error is not None:
            return 0
        return sum(watermarks(consumer, topic, partition)[1] for partition in metadata.partitions)
    finally:
        consumer.close()


def read_to_end(kafka: KafkaConfig, topic: str, timeout_s: float = 60.0) -> Iterator[Message]:
    """Every record of `topic` up to the high watermarks read at the start; no consumer group is committed."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": f"seamline-reader-{uuid.uuid4()}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics[topic]
        if metadata.error is not None:
            return
        ends = {}
        for partition in metadata.partitions:
            low, high = watermarks(consumer, topic, partition)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, partition, 0) for partition in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise KafkaException(f"reading {topic} to its end took over {timeout_s:.0f}s")
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                yield message
            # the position, not the last record's offset: a transaction's marker takes an offset and is no record
            for reached in consumer.position([TopicPartition(topic, partition) for partition in ends]):
                if reached.offset >= ends[reached.partition]:
                    ends.pop(reached.partition)
    finally:
        consumer.close()
