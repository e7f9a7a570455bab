"""The resolve stage's commit sequence, in one place, and the restore of its state after a start or a move.

A resolve batch runs between `Checkpoint.begin` and `Checkpoint.commit`:
1. `begin` opens the batch's Kafka transaction; the batch sends its canonical records, suggestions and dead letters
   through the transactional producer it returns;
2. `commit` adds the batch's state writes (the state changelog) to the same transaction and commits it: Kafka
   holds all of the batch's records or none, and read_committed consumers see them together;
3. the local store takes the same writes and the changelog position after them, in one RocksDB write batch;
4. the caller returns, and Faust commits the input offsets.

A state value over kafka.max_record_bytes (a golden record of very many members, an order of thousands of lines)
goes to the changelog in chunks, records keyed `<key>`, NUL, `<i>`, then the key's record holding CHUNKED and
their count; the store holds the whole value. A restore joins the chunks again when it reaches the key's record.

A crash before 2 completes aborts the transaction (the next owner's producer fences it): the batch is read and
resolved again from the state before it. A crash between 2 and 3 leaves the store behind its changelog: `open`
replays the changelog's tail into it. A crash between 2 and 4 resolves the batch again against the state after
it: the changes are applied already, so it publishes nothing new. The store never holds what the changelog lacks,
and a start replays only what the store misses.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition

from processors.state_store import StateStore, Write, encode
from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.publisher import Publisher, TransactionalPublisher
from seamline.topic_reader import record_position, watermarks
from seamline.topics import resolve_keys_topic, state_changelog_topic

log = logging.getLogger(__name__)

CHUNKED = b"\xc1"
"""First byte of a changelog value that says the value is in chunks before it: a byte msgpack never writes."""
CHUNK_SEPARATOR = b"\x00"
"""Between a state key and its chunk's number; state keys are text without NUL."""
RESTORE_CHUNK = 10_000
"""Changelog records applied to the store per write batch while restoring."""
CONSUME_WAIT_S = 0.02
"""How long one read of a replay waits for RESTORE_CHUNK records: a read returns only when it has them all or this
has passed, and the end is seen only between reads, so a long wait would be paid by every short replay."""
Announced = tuple[bytes, bytes]
"""A referenced key and what it names now, encoded (processors/reference_keys.py)."""
STALL_S = 60.0
"""A restore that reads nothing for this long fails (transient: the process is restarted)."""


class Checkpoint:
    """The state of one identity partition: its store, its changelog and the producer that owns both."""

    def __init__(self, kafka: KafkaConfig, app_id: str, data_dir: Path, partition: int = 0) -> None:
        self.kafka = kafka
        self.topic = state_changelog_topic(app_id)
        self.keys_topic = resolve_keys_topic(app_id)
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

    def begin(self) -> Publisher:
        """Open the batch's transaction (after `open`): what the batch sends through the producer returned is
        committed with its state writes, or aborted with them."""
        assert self._producer is not None, "open() the checkpoint first"
        self._producer.begin()
        return self._producer

    def commit(self, writes: Sequence[Write], announced: Sequence[Announced] = ()) -> None:
        """Send the batch's state writes (and the referenced keys it changed, to their topic), commit its transaction,
        then write the store (module docstring)."""
        assert self._store is not None and self._producer is not None and self._ends is not None, "open() first"
        for announced_key, announced_value in announced:
            self._producer.send(self.keys_topic, announced_value, key=announced_key)
        encoded = [(key.encode(), None if value is None else encode(value)) for key, value in writes]
        records: list[tuple[bytes, bytes | None]] = []
        for key, value in encoded:
            limit = self.kafka.max_record_bytes - len(key) - 16  # room for the key and the chunk's number
            if value is not None and len(value) > limit:
                parts = range(0, len(value), limit)
                records += [
                    (key + CHUNK_SEPARATOR + str(number).encode(), value[start : start + limit])
                    for number, start in enumerate(parts)
                ]
                value = CHUNKED + str(len(parts)).encode()
            records.append((key, value))
        self._producer.send_all(self.topic, records, partition=self.partition)
        self._producer.commit()
        if encoded:
            # Only this producer writes the partition: its end is just past the batch's writes (or past its marker)
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
        consumer = replay_consumer(self.kafka, "restore")
        try:
            low, end = watermarks(consumer, self.topic, self.partition)
            position = store.position
            if position is not None and position > end:
                log.warning("state store %s is ahead of its changelog (%d > %d): rebuilt", self.path, position, end)
                store.wipe()
                position = None
            start = max(low, position or 0)
            self.restored = (
                replay(consumer, store, TopicPartition(self.topic, self.partition, start), end) if start < end else 0
            )
        finally:
            consumer.close()
        log.info(
            "resolve state %s: %d changelog records replayed from offset %d in %.1f s",
            self.path.name,
            self.restored,
            start,
            time.monotonic() - started,
        )


def replay_consumer(kafka: KafkaConfig, purpose: str) -> Consumer:
    """A consumer for `replay`, in a group of its own that commits nothing. The broker answers its fetches at once
    when nothing is there yet: a short replay (a few records) would otherwise wait fetch.wait.max.ms at its end."""
    settings = {"group.id": f"seamline-{purpose}-{uuid.uuid4()}", "fetch.wait.max.ms": 10}
    return Consumer(client_settings(kafka, "consumer", **settings))


class Applier(Protocol):
    """What `replay` writes to: a StateStore, or anything that takes its writes and position."""

    def apply(self, writes: Iterable[tuple[bytes, bytes | None]], position: int) -> None: ...


def replay(
    consumer: Consumer,
    store: Applier,
    at: TopicPartition,
    end: int,
    seen: Callable[[int, bytes], None] | None = None,
) -> int:
    """Apply a compacted topic's partition to `store` from offset `at.offset` until the consumer's position reaches
    `end` (the last stable offset; the position passes transaction markers, which are not records), joining chunked
    values; `seen` hears of each key applied, with its offset. How many records were applied."""
    consumer.assign([at])
    applied = 0
    chunks: dict[bytes, dict[int, bytes]] = {}  # key -> its chunks read since its last record
    stalled_since = time.monotonic()
    while True:
        messages = consumer.consume(RESTORE_CHUNK, timeout=CONSUME_WAIT_S)
        if messages:
            stalled_since = time.monotonic()
        elif time.monotonic() - stalled_since > STALL_S:
            raise KafkaException(f"restoring {at.topic}: nothing read for {STALL_S:.0f} s before offset {end}")
        chunk = []
        for message in messages:
            if message.error() is not None:
                continue
            key, value = message.key(), message.value()
            assert key is not None, f"{at.topic} holds a record without a key at offset {message.offset()}"
            if CHUNK_SEPARATOR in key:
                whole, _, number = key.partition(CHUNK_SEPARATOR)
                chunks.setdefault(whole, {})[int(number)] = value or b""
                continue
            parts = chunks.pop(key, {})
            if value is not None and value.startswith(CHUNKED):
                value = b"".join(parts[number] for number in range(int(value[1:])))
            chunk.append((key, value))
            if seen is not None:
                seen(record_position(message)[2], key)
        position = consumer.position([TopicPartition(at.topic, at.partition)])[0].offset
        done = position >= end
        if chunk or done:
            store.apply(chunk, position)  # the next offset to read: past the chunk and any transaction marker
            applied += len(chunk)
        if done:
            return applied
