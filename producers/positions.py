"""Source positions in the compacted topic seamline.offsets, so a producer needs no other store."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from producers.source import Checkpoint
from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topics import offsets_topic


class PositionStore:
    """Reads the last stored checkpoint of a source and stores new ones."""

    def __init__(self, kafka: KafkaConfig, serde: AvroSerde, publisher: Publisher) -> None:
        self._kafka = kafka
        self._serde = serde
        self._publisher = publisher
        self.topic = offsets_topic(kafka)

    def load(self, source: str) -> Checkpoint | None:
        """The newest checkpoint stored for `source`, read to the end of the topic."""
        consumer = Consumer(client_settings(self._kafka, "consumer", **{"group.id": f"seamline-positions-{uuid.uuid4()}"}))
        try:
            partitions = consumer.list_topics(self.topic, timeout=15).topics[self.topic].partitions
            ends = {}
            for partition in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=15)
                if high > low:
                    ends[partition] = high
            consumer.assign([TopicPartition(self.topic, p, 0) for p in ends])
            found: Checkpoint | None = None
            while ends:
                message = consumer.poll(5.0)
                if message is None or message.error():
                    continue
                if message.offset() + 1 >= ends.get(message.partition(), 0):
                    ends.pop(message.partition(), None)
                if self._serde.decode(self.topic, message.key(), key=True) != source:
                    continue
                value = self._serde.decode(self.topic, message.value())
                found = None if value is None else Checkpoint(value["position"], value["snapshot_done"])
            return found
        finally:
            consumer.close()

    def save(self, source: str, checkpoint: Checkpoint) -> None:
        """Queue the checkpoint; it is durable once the publisher is flushed."""
        record = {
            "source": source,
            "position": checkpoint.position,
            "snapshot_done": checkpoint.snapshot_done,
            "ts_ms": int(time.time() * 1000),
        }
        self._publisher.send(
            self.topic, self._serde.encode(self.topic, record), key=self._serde.encode(self.topic, source, key=True)
        )
