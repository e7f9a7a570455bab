"""Every record of a partition reaches the agent, in order: records the consumer skipped are read back from Kafka.

Faust can skip records: at a start or a rebalance with records waiting, the first records it fetched for a
partition may be dropped while its flow is still suspended, and it reads on from the later ones without ever
fetching the dropped ones again; it then stops committing that partition, as the dropped offsets are never
acknowledged. So each agent passes its batches through `Continuity.complete`, which knows the next offset it
expects per partition (the group's committed offset when it first reads one). Before a record that jumps ahead,
it reads the records in between straight from Kafka and puts them into the batch in their place; the agent
acknowledges them to Faust once the batch is processed, and Faust's commits go on. A jump over offsets that
hold no records (compaction, retention, transaction markers) is normal.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings

log = logging.getLogger(__name__)

Partition = tuple[str, int]
READ_TIMEOUT_S = 30.0


class Consumed(Protocol):
    """A consumed record, as a batch sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Refetched:
    """A record read back from Kafka after the consumer skipped it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Continuity:
    """The next offset expected of each assigned partition of one consumer group."""

    def __init__(self, kafka: KafkaConfig, group_id: str) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self._next: dict[Partition, int] = {}

    def keep_only(self, assigned: Iterable[Partition]) -> None:
        """A rebalance assigned these partitions: forget the others (their next owner may read on)."""
        kept = set(assigned)
        self._next = {partition: offset for partition, offset in self._next.items() if partition in kept}

    async def complete(self, records: Sequence[Consumed]) -> tuple[list[Consumed], list[Refetched]]:
        """The batch with the records skipped before any of its records put back in place; and those."""
        loop = asyncio.get_running_loop()
        unknown = {(record.topic, record.partition) for record in records} - self._next.keys()
        if unknown:
            self._next.update(await loop.run_in_executor(None, self._starts, unknown))
        batch: list[Consumed] = []
        refetched: list[Refetched] = []
        for record in records:
            partition = (record.topic, record.partition)
            expected = self._next[partition]
            if record.offset > expected:
                missing = await loop.run_in_executor(None, self._read, partition, expected, record.offset)
                if missing:
                    log.warning(
                        "%s[%d]: the consumer skipped offsets %d..%d; read them back from Kafka",
                        *partition,
                        missing[0].offset,
                        missing[-1].offset,
                    )
                batch.extend(missing)
                refetched.extend(missing)
            batch.append(record)
            self._next[partition] = max(expected, record.offset + 1)
        return batch, refetched

    def _consumer(self, group_id: str) -> Consumer:
        return Consumer(client_settings(self.kafka, "consumer", **{"group.id": group_id}))

    def _starts(self, partitions: set[Partition]) -> dict[Partition, int]:
        """Where the group reads each partition from: its committed offset, else the partition's first."""
        consumer = self._consumer(self.group_id)
        try:
            committed = consumer.committed([TopicPartition(topic, number) for topic, number in partitions], timeout=15)
            starts = {}
            for position in committed:
                offset = position.offset
                if offset == OFFSET_INVALID:
                    offset = consumer.get_watermark_offsets(position, timeout=15)[0]
                starts[position.topic, position.partition] = offset
            return starts
        finally:
            consumer.close()

    def _read(self, partition: Partition, start: int, end: int) -> list[Refetched]:
        """The records the partition holds from offset `start` up to, not including, `end`."""
        consumer = self._consumer(f"seamline-continuity-{uuid.uuid4()}")
        try:
            consumer.assign([TopicPartition(*partition, start)])
            records: list[Refetched] = []
            deadline = time.monotonic() + READ_TIMEOUT_S
            while True:
                message = consumer.poll(1.0)
                if message is not None and not message.error():
                    offset = int(message.offset())
                    if offset >= end:
                        return records
                    records.append(Refetched(*partition, offset, message.key(), message.value()))
                    if offset == end - 1:
                        return records
                elif time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{partition[0]}[{partition[1]}]: reading back offsets {start}..{end - 1} took over"
                        f" {READ_TIMEOUT_S:.0f}s"
                    )
        finally:
            consumer.close()
