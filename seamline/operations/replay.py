"""Replay: rebuild a target from the canonical topics, from their beginning or from a point in time.

A replay is a bounded run of the sink (sinks/runner.py) from planned start offsets to the end offsets the
topics have when it starts. Its writes are the sink's usual version-guarded, idempotent ones, so replaying
into a target that already holds the records changes nothing, and replaying into an emptied one rebuilds it.
The group it reads with is either a fresh one (the running sink is left alone) or the sink's own, reset to
the start offsets (the sink must be stopped; when it starts again it goes on from where the replay ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.times import parse_time
from seamline.topic_reader import watermarks
from seamline.topics import canonical_topic, tool_group

GroupChoice = Literal["fresh", "reset"]


class ReplayError(Exception):
    """A replay that cannot start; the message says what to do."""


@dataclass(frozen=True)
class PartitionRange:
    """The offsets of one partition a replay reads: from `start` up to, not including, `end`."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def records(self) -> int:
        """Records in the range (fewer may be read: compaction leaves gaps in the offsets)."""
        return max(0, self.end - self.start)


def parse_start(text: str) -> datetime | None:
    """`earliest` -> None; an ISO 8601 time (a naive one is UTC) -> that time."""
    if text == "earliest":
        return None
    try:
        return parse_time(text, "--from")
    except ValueError as exc:
        raise ReplayError(f"{exc}, or 'earliest'") from exc


def plan(kafka: KafkaConfig, entities: list[str], since: datetime | None) -> list[PartitionRange]:
    """Per partition of each entity's canonical topic: the first offset at or after `since` (the log start
    when None) and the end offset now."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": tool_group(kafka, "replay-plan")}))
    try:
        ranges = []
        for entity in entities:
            topic = canonical_topic(kafka, entity)
            metadata = consumer.list_topics(topic, timeout=15).topics[topic]
            if metadata.error is not None:
                raise ReplayError(f"topic {topic} does not exist: has the processor published any {entity}?")
            for partition in sorted(metadata.partitions):
                low, high = watermarks(consumer, topic, partition)
                start = low
                if since is not None:
                    wanted = TopicPartition(topic, partition, int(since.timestamp() * 1000))
                    found = consumer.offsets_for_times([wanted], timeout=15)[0].offset
                    start = high if found < 0 else max(low, found)
                ranges.append(PartitionRange(topic, partition, start, high))
        return ranges
    finally:
        consumer.close()


def replay_group(sink_group: str, choice: GroupChoice, now: datetime) -> str:
    """The consumer group a replay reads with."""
    return sink_group if choice == "reset" else f"{sink_group}-replay-{now:%Y%m%dT%H%M%S}"


def set_start(kafka: KafkaConfig, group: str, ranges: list[PartitionRange]) -> None:
    """Commit the start offsets for `group`; ReplayError if the group has running members."""
    admin = AdminClient(client_settings(kafka, "admin"))
    offsets = [TopicPartition(r.topic, r.partition, r.start) for r in ranges]
    future = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, offsets)])[group]
    try:
        future.result()
    except KafkaException as exc:
        if exc.args[0].name() in ("UNKNOWN_MEMBER_ID", "NON_EMPTY_GROUP", "REBALANCE_IN_PROGRESS"):
            raise ReplayError(
                f"consumer group {group} has running members: stop the sink first, or replay with --group fresh"
            ) from exc
        raise


def forget_group(kafka: KafkaConfig, group: str) -> None:
    """Delete a fresh replay group once the replay is over, so it does not linger in lag reports."""
    admin = AdminClient(client_settings(kafka, "admin"))
    try:
        admin.delete_consumer_groups([group])[group].result()
    except KafkaException as exc:
        if exc.args[0].name() not in ("GROUP_ID_NOT_FOUND", "NON_EMPTY_GROUP"):
            raise
