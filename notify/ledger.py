"""Which consumed records every channel has taken, and so how far each partition may be committed."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from confluent_kafka import TopicPartition


class Receipt:
    """The deliveries one consumed record is still owed; it is done when none is. Thread-safe."""

    __slots__ = ("_lock", "_offset", "_owed")

    def __init__(self, owed: dict[int, int], offset: int, lock: threading.Lock) -> None:
        self._owed, self._offset, self._lock = owed, offset, lock

    def hold(self) -> None:
        """One more delivery owed (a notice or digest the record is in, queued for a channel); only while the
        reader still holds it, so a record's place in the partition's order never changes."""
        with self._lock:
            self._owed[self._offset] += 1

    def release(self) -> None:
        """One delivery made."""
        with self._lock:
            left = self._owed.get(self._offset, 0) - 1
            if left > 0:
                self._owed[self._offset] = left
            else:
                self._owed.pop(self._offset, None)


class Ledger:
    """Per assigned partition, the offsets of records with deliveries owed. A partition may be committed up to
    its oldest such record, or to the consumer's position when it has none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owed: dict[tuple[str, int], dict[int, int]] = {}

    def open(self, topic: str, partition: int, offset: int) -> Receipt:
        """The receipt of a record just consumed, held once by the reader until it has been dispatched."""
        with self._lock:
            owed = self._owed.setdefault((topic, partition), {})
            owed[offset] = 1
        return Receipt(owed, offset, self._lock)

    def committable(self, positions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """The offset each partition may be committed at, given the consumer's positions (every record before a
        position has been opened here)."""
        found = []
        with self._lock:
            for position in positions:
                if position.offset < 0:
                    continue
                owed = self._owed.get((position.topic, position.partition))
                # offsets are opened in increasing order and dicts keep that order: the first is the oldest
                offset = next(iter(owed)) if owed else position.offset
                found.append(TopicPartition(position.topic, position.partition, offset))
        return found

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions this member no longer owns: their receipts no longer count here."""
        with self._lock:
            for tp in partitions:
                self._owed.pop((tp.topic, tp.partition), None)
