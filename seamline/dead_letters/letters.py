"""Dead letters for operators: list and filter them, show one, send them back to their stage, purge old ones.

Letters are never changed in place (Kafka cannot); a replayed letter stays in its DLQ until purged.
A purge deletes a partition's records up to a time, as Kafka's delete-records does: by time, not by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.kafka_settings import client_settings
from seamline.publisher import Publisher
from seamline.topic_reader import read_to_end, record_position, watermarks
from seamline.topics import dlq_topic, tool_group

SINK_STAGE = "sink."
SOURCE_STAGE = "source."


class DeadLetterError(Exception):
    """A dead-letter command that cannot be carried out; the message says what to do."""


@dataclass(frozen=True)
class Letter:
    """One dead letter: where it sits, the original record's bytes, and the headers that say why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def ref(self) -> str:
        """`<stage>:<partition>:<offset>`, the name `seamline dlq show` takes."""
        return f"{self.stage}:{self.partition}:{self.offset}"

    @property
    def stage(self) -> str:
        return self.headers.get("stage", "?")

    @property
    def failed_at(self) -> datetime | None:
        stamp = self.headers.get("failed_at_ms")
        return datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else None


@dataclass(frozen=True)
class Filter:
    """Which letters a command takes: by stage, by a text in the reason or error class, by time of failure."""

    stage: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __call__(self, letter: Letter) -> bool:
        if self.reason is not None:
            text = f"{letter.headers.get('error.class', '')} {letter.headers.get('error.reason', '')}".lower()
            if self.reason.lower() not in text:
                return False
        failed = letter.failed_at
        if self.since is not None and (failed is None or failed < self.since):
            return False
        return not (self.until is not None and (failed is None or failed >= self.until))


def stages(kafka: KafkaConfig) -> list[str]:
    """The stages that have a DLQ topic."""
    admin = AdminClient(client_settings(kafka, "admin"))
    prefix = dlq_topic(kafka, "")
    return sorted(
        topic.removeprefix(prefix) for topic in admin.list_topics(timeout=15).topics if topic.startswith(prefix)
    )


def letters(kafka: KafkaConfig, which: Filter) -> Iterator[Letter]:
    """The letters `which` takes, stage by stage, in offset order per partition."""
    known = stages(kafka)
    if which.stage is not None and which.stage not in known:
        raise DeadLetterError(
            f"no DLQ for stage {which.stage!r}; stages with dead letters: {', '.join(known) or 'none'}"
        )
    for stage in [which.stage] if which.stage else known:
        for message in read_to_end(kafka, dlq_topic(kafka, stage)):
            letter = Letter(
                *record_position(message),
                message.key(),
                message.value(),
                read_headers(message.headers()),
            )
            if which(letter):
                yield letter


def find(kafka: KafkaConfig, ref: str) -> Letter:
    """The letter named `<stage>:<partition>:<offset>`."""
    stage, _, place = ref.rpartition(":")
    stage, _, partition = stage.rpartition(":")
    if not (stage and partition.isdigit() and place.isdigit()):
        raise DeadLetterError(
            f"{ref!r} is not a letter reference: write <stage>:<partition>:<offset>, as `dlq list` shows"
        )
    for letter in letters(kafka, Filter(stage=stage)):
        if letter.partition == int(partition) and letter.offset == int(place):
            return letter
    raise DeadLetterError(f"no letter {ref}: it may have been purged; `seamline dlq list --stage {stage}` lists them")


def republish(kafka: KafkaConfig, chosen: Iterable[Letter]) -> int:
    """Send processor-stage letters back to the topic their stage reads, as they were; how many were sent."""
    publisher, sent = Publisher(kafka), 0
    try:
        for letter in chosen:
            if letter.stage.startswith(SINK_STAGE):
                raise DeadLetterError(f"{letter.ref} is a sink's letter: it is written back through its sink")
            if letter.stage.startswith(SOURCE_STAGE):
                raise DeadLetterError(
                    f"{letter.ref} is a source's letter: its value has no form on the typed topic; fix the value in "
                    "the source, and the row's next change is published (its reason says how)"
                )
            original = letter.headers.get("original.topic")
            if not original:
                raise DeadLetterError(f"{letter.ref} has no original.topic header: it cannot be sent back")
            headers = [("seamline.replayed_from", letter.ref.encode())]
            # to the partition it came from: a change of the identity topic is resolved in its own partition
            partition = letter.headers.get("original.partition")
            publisher.send(
                original, letter.value, key=letter.key, headers=headers, partition=int(partition) if partition else None
            )
            sent += 1
        publisher.flush()
    finally:
        publisher.close()
    return sent


def purge(kafka: KafkaConfig, stage: str, until: datetime, on_partition: Callable[[int, int], None]) -> int:
    """Delete the stage's letters written before `until`; `on_partition(partition, deleted)` hears each; the total."""
    topic = dlq_topic(kafka, stage)
    if stage not in stages(kafka):
        raise DeadLetterError(f"no DLQ for stage {stage!r}: `seamline dlq list` names the stages")
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": tool_group(kafka, "dlq-purge")}))
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
        cuts = []
        for partition in partitions:
            low, high = watermarks(consumer, topic, partition)
            at = consumer.offsets_for_times([TopicPartition(topic, partition, int(until.timestamp() * 1000))], 15)
            cut = high if at[0].offset < 0 else at[0].offset
            if cut > low:
                cuts.append(TopicPartition(topic, partition, cut))
    finally:
        consumer.close()
    if not cuts:
        return 0
    # Counted, not taken from offsets: a letter written in a transaction (dlq.resolve) is followed by a marker
    # that takes an offset of its own
    before = {tp.partition: tp.offset for tp in cuts}
    counts: Counter[int] = Counter()
    for message in read_to_end(kafka, topic):
        _, partition, offset = record_position(message)
        if offset < before.get(partition, 0):
            counts[partition] += 1
    admin = AdminClient(client_settings(kafka, "admin"))
    futures = admin.delete_records(cuts, request_timeout=30)
    total = 0
    for tp in cuts:
        count = counts[tp.partition]
        try:
            futures[tp].result()
        except KafkaException as exc:
            raise DeadLetterError(f"Kafka refused to delete {topic}[{tp.partition}] before {tp.offset}: {exc}") from exc
        on_partition(tp.partition, count)
        total += count
    return total
