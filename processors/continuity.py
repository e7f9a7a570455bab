"""Every record of a partition reaches the agent once, in order, even where the consumer skips some.

Faust can skip records: at a start or a rebalance with records waiting, records it fetched for a partition
may be dropped while its flow is suspended, and its fetch position has already moved past them. So each
agent passes its batches through `Continuity.complete`, which knows the next offset it expects per partition
(the group's committed offset when it first reads one):

- before a record that jumps ahead, it reads the records in between straight from Kafka and puts them into
  the batch in their place; the agent acknowledges them to Faust, and Faust's commits go on. A jump over
  offsets that hold no records (compaction, retention) is normal;
- a record before the expected offset was processed already (Faust reads a kept partition again from the
  committed offset after a rebalance, or again after a seek) and is left out;
- when the dropped records were a partition's last, no later record shows the gap: `stalled` names the
  assigned partitions that lag their end offset while nothing of them arrived for a while, and the app seeks
  the consumer back to the expected offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.topic_reader import record_position

log = logging.getLogger(__name__)

Partition = tuple[str, int]
EndOffsets = Callable[[list[Partition]], Awaitable[Mapping[Partition, int]]]
READ_TIMEOUT_S = 30.0
STALL_S = 10.0  # a lagging partition with nothing arriving for this long has lost its fetched records


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
    """The next offset expected of each assigned partition of one agent's topics, in one consumer group."""

    def __init__(
        self, kafka: KafkaConfig, group_id: str, topics: Collection[str], stall_after: float = STALL_S
    ) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.topics = frozenset(topics)
        self.stall_after = stall_after
        self._next: dict[Partition, int] = {}
        self._assigned: set[Partition] = set()
        self._moved: dict[Partition, float] = {}  # when a record of the partition last arrived, or it was sought
        self._busy = False
        self._idle_since = time.monotonic()

    def keep_only(self, assigned: Iterable[Partition]) -> None:
        """A rebalance assigned these partitions: forget the others (their next owner may read on)."""
        now = time.monotonic()
        self._assigned = {partition for partition in assigned if partition[0] in self.topics}
        self._next = {partition: offset for partition, offset in self._next.items() if partition in self._assigned}
        self._moved = {partition: self._moved.get(partition, now) for partition in self._assigned}

    async def complete(self, records: Sequence[Consumed]) -> tuple[list[Consumed], list[Refetched]]:
        """The batch without records processed before, with skipped records put back in place; and those.

        The agent calls `finished` once it has processed the batch.
        """
        self._busy = True
        await self._know({(record.topic, record.partition) for record in records})
        batch: list[Consumed] = []
        refetched: list[Refetched] = []
        now = time.monotonic()
        for record in records:
            partition = (record.topic, record.partition)
            self._moved[partition] = now
            expected = self._next[partition]
            if record.offset < expected:
                continue
            if record.offset > expected:
                missing = await asyncio.get_running_loop().run_in_executor(
                    None, self._read, partition, expected, record.offset
                )
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
            self._next[partition] = record.offset + 1
        return batch, refetched

    def finished(self) -> None:
        """The agent has processed the last completed batch and waits for the next."""
        self._busy = False
        self._idle_since = time.monotonic()

    async def stalled(self, end_offsets: EndOffsets) -> dict[Partition, int]:
        """Assigned partitions behind their end offset of which nothing arrived for `stall_after` seconds while
        the agent waited, with the offset to read them from again."""
        now = time.monotonic()
        waited = {p: now - max(self._moved.get(p, now), self._idle_since) for p in self._assigned}
        quiet = [p for p, seconds in waited.items() if seconds >= self.stall_after]
        if self._busy or not quiet:
            return {}
        await self._know(quiet)
        ends = await end_offsets(quiet)
        if self._busy:  # records arrived meanwhile
            return {}
        lagging = {p: self._next[p] for p in quiet if p in self._next and self._next[p] < ends.get(p, 0)}
        for partition in lagging:
            self._moved[partition] = now
        return lagging

    async def _know(self, partitions: Iterable[Partition]) -> None:
        """Learn the start of each partition not known yet."""
        unknown = set(partitions) - self._next.keys()
        if unknown:
            self._next.update(await asyncio.get_running_loop().run_in_executor(None, self._starts, unknown))

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
                    _, _, offset = record_position(message)
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
