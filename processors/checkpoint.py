"""The resolve stage's commit sequence, in one place, and the restore of its state after a start or a move.

A resolve batch ends with `Checkpoint.commit`:
1. the batch's canonical records, suggestions and dead letters are flushed (acknowledged by Kafka);
2. its state writes go to the state changelog in one Kafka transaction: all of them or none;
3. the local store takes the same writes and the changelog position after them, in one RocksDB write batch;
4. the caller returns, and Faust commits the input offsets.

A crash before 2 completes leaves the state as it was before the batch, which is read and resolved again:
the same changes against the same state publish the same versions, which every sink already holds. A crash
between 2 and 3 leaves the store behind its changelog: `open` replays the changelog's tail into it. The store
therefore never holds what the changelog lacks, and a start replays only what the store misses.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from processors.state_store import StateStore, Write, encode
from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.publisher import Publisher, TransactionalPublisher
from seamline.topic_reader import watermarks
from seamline.topics import state_changelog_topic

log = logging.getLogger(__name__)

RESTORE_CHUNK = 10_000
"""Changelog records applied to the store per write batch while restoring."""
STALL_S = 60.0
"""A restore that reads nothing for this long fails (transient: the process is restarted)."""


class Checkpoint:
    """The state of one identity partition: its store, its changelog and the producer that owns both."""

    def __init__(self, kafka: KafkaConfig, app_id: str, data_dir: Path, partition: int = 0) -> None:
        self.kafka = kafka
        self.topic = state_changelog_topic(app_id)
        self.partition = partition
        self.transactional_id = f"{app_id}-resolve-{partition}"
        self.path = data_dir / f"resolve-{partition}"
        self._store: StateStore | None = None
        self._producer: TransactionalPublisher | None = None
        self._ends: Consumer | None = None
        self.restored = 0
        """Changelog records the last `open` replayed into the store."""

    def open(self) -> StateStore:
        """The store, brought up to the changelog's end. The first call after an assignment fences any earlier
        owner of the partition (its open transaction is aborted), then replays the changelog past the store."""
        if self._store is None:
            self._producer = TransactionalPublisher(self.kafka, self.transactional_id)
            # read_uncommitted: the end of the batch's records as soon as Kafka acknowledged them, whether or not the
            # transaction's marker is written yet
            self._ends = Consumer(
                client_settings(
                    self.kafka, "consumer", **{"group.id": self.transactional_id, "isolation.level": "read_uncommitted"}
                )
            )
            store = StateStore(self.path)
            try:
                self._restore(store)
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    def commit(self, outputs: Publisher, writes: Sequence[Write]) -> None:
        """The commit sequence of a batch whose records were sent through `outputs` (module docstring)."""
        assert self._store is not None and self._producer is not None and self._ends is not None, "open() first"
        outputs.flush()
        if not writes:
            return
        encoded = [(key.encode(), None if value is None else encode(value)) for key, value in writes]
        self._producer.begin()
        for key, value in encoded:
            self._producer.send(self.topic, value, key=key)
        self._producer.commit()
        # Only this producer writes the partition, so its end is just past the batch (or past its marker, too)
        self._store.apply(encoded, watermarks(self._ends, self.topic, self.partition)[1])

    def close(self) -> None:
        """Release the store and the producer; the store's files stay for the next assignment."""
        if self._store is not None:
            self._store.close()
        if self._producer is not None:
            self._producer.close()
        if self._ends is not None:
            self._ends.close()
        self._store, self._producer, self._ends = None, None, None

    def _restore(self, store: StateStore) -> None:
        started = time.monotonic()
        consumer = Consumer(client_settings(self.kafka, "consumer", **{"group.id": f"seamline-restore-{uuid.uuid4()}"}))
        try:
            low, end = watermarks(consumer, self.topic, self.partition)
            position = store.position
            if position is not None and position > end:
                log.warning("state store %s is ahead of its changelog (%d > %d): rebuilt", self.path, position, end)
                store.wipe()
                position = None
            start = max(low, position or 0)
            self.restored = self._replay(consumer, store, start, end) if start < end else 0
        finally:
            consumer.close()
        log.info(
            "resolve state %s: %d changelog records replayed from offset %d in %.1f s",
            self.path.name,
            self.restored,
            start,
            time.monotonic() - started,
        )

    def _replay(self, consumer: Consumer, store: StateStore, start: int, end: int) -> int:
        """Apply the changelog from `start` until the consumer's position reaches `end` (the last stable offset;
        the position passes transaction markers, which are not records)."""
        consumer.assign([TopicPartition(self.topic, self.partition, start)])
        applied = 0
        stalled_since = time.monotonic()
        while True:
            messages = consumer.consume(RESTORE_CHUNK, timeout=1.0)
            if messages:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > STALL_S:
                raise KafkaException(f"restoring {self.topic}: nothing read for {STALL_S:.0f} s before offset {end}")
            chunk = []
            for message in messages:
                if message.error() is not None:
                    continue
                key = message.key()
                assert key is not None, f"{self.topic} holds a record without a key at offset {message.offset()}"
                chunk.append((key, message.value()))
            position = consumer.position([TopicPartition(self.topic, self.partition)])[0].offset
            done = position >= end
            if chunk or done:
                store.apply(chunk, position)  # the next offset to read: past the chunk and any transaction marker
                applied += len(chunk)
            if done:
                return applied
