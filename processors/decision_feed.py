"""The resolve stage's reader of `seamline.decisions`: the decisions from an offset to the topic's end.

The offset comes from the resolve state (processors/constraints.py), which the batch's transaction writes with
the decisions' effects, so each decision takes effect once; this reader commits nothing.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.topic_reader import ReadRecord, watermarks
from seamline.topics import decisions_topic

STALL_S = 60.0
"""Reading that gets nothing for this long, short of the end, fails (transient: the process is restarted)."""


class DecisionFeed:
    """Reads the one partition of the decisions topic with a consumer of its own, opened on first use."""

    def __init__(self, kafka: KafkaConfig) -> None:
        self.kafka = kafka
        self.topic = decisions_topic(kafka)
        self._consumer: Consumer | None = None

    def read(self, start: int) -> list[ReadRecord]:
        """The decisions at `start` and after, up to the end the topic has now."""
        if self._consumer is None:
            settings = {"group.id": f"seamline-decisions-{uuid.uuid4()}", "enable.auto.commit": False}
            self._consumer = Consumer(client_settings(self.kafka, "consumer", **settings))
        consumer = self._consumer
        end = watermarks(consumer, self.topic, 0)[1]
        if start >= end:
            return []
        partition = TopicPartition(self.topic, 0, start)
        consumer.assign([partition])
        records: list[ReadRecord] = []
        position, stalled_since = start, time.monotonic()
        while position < end:
            messages = consumer.consume(500, timeout=1.0)
            if messages:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > STALL_S:
                raise KafkaException(f"reading {self.topic}: nothing read for {STALL_S:.0f} s before offset {end}")
            for message in messages:
                offset = message.offset()
                if message.error() is None and offset is not None:
                    records.append(ReadRecord(self.topic, 0, offset, message.key(), message.value()))
            position = consumer.position([TopicPartition(self.topic, 0)])[0].offset
        consumer.unassign()
        return records

    def close(self) -> None:
        """Release the consumer (a later `read` opens another)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
