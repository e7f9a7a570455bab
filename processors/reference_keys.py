"""Referenced keys every worker holds: the golden id each key that some mapping references names now.

With more than one identity partition, an order resolves in another partition than the customer it names. The
partition that resolves a referenced key (processors/routing.py) writes each change of it, in the batch's
transaction, to `<app_id>-resolve-keys` (compacted, one partition): key -> [golden id or None, system, time] of the
change that made it so. Every worker keeps a copy of that topic in RocksDB (`<data_dir>/keys`) with the
offset it holds, brought to the topic's last stable offset before each resolve batch, so a batch's lookups see
what every committed batch before it wrote.

Each partition acts on every key record once (`Resolver.announce`: release the changes held on it, republish the
records that reference it) and keeps, in its own state, the offset up to which it has acted, committed with its
batch: a crash acts on the same keys again, which changes nothing that was done.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from processors.checkpoint import Announced, replay, replay_consumer
from processors.state_store import StateStore, encode
from seamline.config import KafkaConfig
from seamline.topic_reader import watermarks
from seamline.topics import resolve_keys_topic

KEYS_POSITION = "a:keys"
"""The index key of a partition's state holding the keys-topic offset up to which it has acted on key records."""
CACHED_KEYS = 100_000
"""Decoded values of the copy kept in memory: a published order looks up its customer and every line's product."""
RECENT_KEYS = 200_000
"""Key records kept in memory after they were read, for the partitions to act on; older ones are read again."""


def announcement(key: str, gid: str | None, system: str, ts: int) -> Announced:
    """The keys-topic record saying `key` names golden id `gid` (None: nothing), since a change of `system` at `ts`:
    never a tombstone, so the partitions acting on it learn where and when the key changed."""
    return key.encode(), encode([gid, system, ts])


class KeysCopy:
    """This worker's copy of the keys topic."""

    def __init__(self, kafka: KafkaConfig, app_id: str, data_dir: Path) -> None:
        self.kafka = kafka
        self.topic = resolve_keys_topic(app_id)
        self.path = data_dir / "keys"
        self._store: StateStore | None = None
        self._consumer: Consumer | None = None
        self._offsets: list[int] = []  # offsets of the key records read since the copy opened, ascending
        self._keys: list[str] = []
        self._cache: dict[str, list[Any] | None] = {}

    def catch_up(self) -> int:
        """Bring the copy to the topic's last stable offset (opening it first); the offset it now holds up to."""
        if self._store is None:
            self._store = StateStore(self.path)
            self._consumer = replay_consumer(self.kafka, "keys")
        assert self._consumer is not None
        low, end = watermarks(self._consumer, self.topic, 0)
        position = self._store.position
        if position is not None and position > end:  # the topic was recreated: start over
            self._store.wipe()
            self._forget_read()
            position = None
        start = max(low, position or 0)
        if start < end:
            replay(self._consumer, self._store, TopicPartition(self.topic, 0, start), end, self._seen)
            self._trim()
        return self._store.position or start

    def get(self, key: str) -> list[Any] | None:
        """[golden id, system, time] of what `key` names in the copy, or None."""
        try:
            return self._cache[key]
        except KeyError:
            assert self._store is not None, "catch_up() first"
            if len(self._cache) >= CACHED_KEYS:
                self._cache.clear()
            value = self._cache[key] = self._store.get(key)
            return value

    def announced(self, start: int, end: int) -> list[tuple[int, str]]:
        """The offsets and keys of the records from offset `start` to `end` (exclusive), in order, each key once
        (at its last record)."""
        first = self._offsets[0] if self._offsets else end
        found = self._read(start, first) if start < first else []
        low, high = bisect.bisect_left(self._offsets, start), bisect.bisect_left(self._offsets, end)
        found += zip(self._offsets[low:high], self._keys[low:high], strict=True)
        last = {key: offset for offset, key in found}
        return sorted((offset, key) for key, offset in last.items())

    def close(self) -> None:
        """Release the store and the consumer; the store's files stay for the next start."""
        if self._store is not None:
            self._store.close()
        if self._consumer is not None:
            self._consumer.close()
        self._store, self._consumer = None, None
        self._forget_read()

    def _forget_read(self) -> None:
        self._offsets, self._keys = [], []
        self._cache.clear()

    def _seen(self, offset: int, key: bytes) -> None:
        text = key.decode()
        self._offsets.append(offset)
        self._keys.append(text)
        self._cache.pop(text, None)

    def _trim(self) -> None:
        if len(self._offsets) > RECENT_KEYS:
            drop = len(self._offsets) - RECENT_KEYS // 2
            del self._offsets[:drop], self._keys[:drop]

    def _read(self, start: int, end: int) -> list[tuple[int, str]]:
        """The offsets and keys of the records from `start` to `end`, read from Kafka (older than those kept in
        memory)."""
        found: list[tuple[int, str]] = []
        consumer = replay_consumer(self.kafka, "keys")
        try:
            at = TopicPartition(self.topic, 0, start)
            replay(consumer, _Discard(), at, end, lambda offset, key: found.append((offset, key.decode())))
        finally:
            consumer.close()
        return [(offset, key) for offset, key in found if offset < end]


class _Discard:
    """Takes a replay's writes and keeps nothing: for reading keys again without applying them."""

    def apply(self, writes: Iterable[tuple[bytes, bytes | None]], position: int) -> None:
        """Nothing."""


def golden_id(value: list[Any] | None) -> str | None:
    """The golden id of a copy's value."""
    return None if value is None else value[0]
