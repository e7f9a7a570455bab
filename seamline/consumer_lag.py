"""Consumer group lag: how many records each group has yet to read, read from Kafka's committed offsets."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.topic_reader import watermarks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """A group's position in one partition: its committed offset and the partition's end."""

    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records not yet read past the committed offset."""
        return self.end - self.committed


def group_lag(kafka: KafkaConfig, group: str, topics: Sequence[str]) -> list[PartitionLag]:
    """The lag of every partition of `topics` the group has committed an offset for.

    Read through a consumer of the group (which never joins it), not the admin API: librdkafka 2.16's
    ListConsumerGroupOffsets crashed the process (SIGSEGV) when the group coordinator was still loading.
    """
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        metadata = consumer.list_topics(timeout=15).topics
        partitions = [TopicPartition(t, p) for t in topics if t in metadata for p in sorted(metadata[t].partitions)]
        committed = consumer.committed(partitions, timeout=15) if partitions else []
        return [
            PartitionLag(tp.topic, tp.partition, tp.offset, watermarks(consumer, tp.topic, tp.partition)[1])
            for tp in committed
            if tp.offset >= 0
        ]
    finally:
        consumer.close()


class LagExporter:
    """Sets `seamline_consumer_lag{group,topic}` for consumer groups every `interval_s`, in a daemon thread."""

    def __init__(
        self, kafka: KafkaConfig, groups: Mapping[str, Sequence[str]], metrics: Metrics, interval_s: float = 15.0
    ) -> None:
        self.kafka = kafka
        self.groups = groups
        self.metrics = metrics
        self.interval_s = interval_s
        self._stop = threading.Event()

    def start(self) -> None:
        """Begin exporting."""
        threading.Thread(target=self._run, name="consumer-lag", daemon=True).start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()

    def export_once(self) -> None:
        """Read every group's lag and set the gauges."""
        for group, topics in self.groups.items():
            totals: dict[str, int] = defaultdict(int)
            for partition in group_lag(self.kafka, group, topics):
                totals[partition.topic] += partition.lag
            for topic, lag in totals.items():
                self.metrics.consumer_lag.labels(group, topic).set(lag)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.export_once()
            except KafkaException as exc:
                log.warning("consumer lag not read: %s", exc)
            self._stop.wait(self.interval_s)
