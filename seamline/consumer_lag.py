"""Consumer group lag: how many records each group has yet to read, read from Kafka's committed offsets."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """A group's position in one partition: its committed offset (None before its first commit) and the end."""

    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        """Records not yet read past the committed offset (all of the partition before a first commit)."""
        return self.end - (self.committed or 0)


def group_lag(admin: AdminClient, group: str) -> list[PartitionLag]:
    """The lag of every partition the group has committed offsets for."""
    request = [ConsumerGroupTopicPartitions(group)]
    committed = admin.list_consumer_group_offsets(request)[group].result().topic_partitions or []
    if not committed:
        return []
    specs = {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in committed}
    ends = {(tp.topic, tp.partition): future.result().offset for tp, future in admin.list_offsets(specs).items()}
    return [
        PartitionLag(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else None, ends[(tp.topic, tp.partition)])
        for tp in committed
    ]


class LagExporter:
    """Sets `seamline_consumer_lag{group,topic}` for consumer groups every `interval_s`, in a daemon thread."""

    def __init__(self, kafka: KafkaConfig, groups: list[str], metrics: Metrics, interval_s: float = 15.0) -> None:
        self.admin = AdminClient(client_settings(kafka, "admin"))
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
        for group in self.groups:
            totals: dict[str, int] = defaultdict(int)
            for partition in group_lag(self.admin, group):
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
