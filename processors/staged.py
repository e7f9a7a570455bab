"""A batch's view of a table: reads see the batch's own writes; writes reach the table only on `commit`.

The resolve stage publishes a batch's records and waits for Kafka's acknowledgement before its tables
change, so a crash in between replays the batch against the state it started from. A `Cache` of committed
values, kept across batches while the worker owns the tables, spares reading and decoding them again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.resolve import Table

_DELETED = object()


class Cache(dict[str, Any]):
    """Committed values of one table (_DELETED for known-absent keys); cleared when it grows past `limit`."""

    def __init__(self, limit: int = 500_000) -> None:
        super().__init__()
        self.limit = limit


class Staged:
    """Buffers the writes of one batch over a table."""

    def __init__(self, table: Table, cache: Cache | None = None) -> None:
        self.table = table
        self.cache = Cache() if cache is None else cache
        self._values: dict[str, Any] = {}  # what the batch read or wrote; _DELETED for absent
        self._written: set[str] = set()

    def get(self, key: str) -> Any:
        """The batch's value of a key: its own write, else the committed one."""
        value = self._values.get(key)
        if value is None:
            value = self.cache.get(key)
            if value is None:
                table_value = self.table.get(key)
                value = self.cache[key] = _DELETED if table_value is None else table_value
            self._values[key] = value
        return None if value is _DELETED else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._written.add(key)

    def __delitem__(self, key: str) -> None:
        self._values[key] = _DELETED
        self._written.add(key)

    def commit(self, before_write: Callable[[], Any] = lambda: None) -> None:
        """Write the batch's changes into the table (`before_write` sets up the table's context)."""
        if self._written:
            before_write()
        if len(self.cache) + len(self._written) > self.cache.limit:
            self.cache.clear()
        for key in self._written:
            value = self._values[key]
            if value is not _DELETED:
                self.table[key] = value
            elif self.table.get(key) is not None:
                del self.table[key]
            self.cache[key] = value
        self._values.clear()
        self._written.clear()


class Prefixed:
    """One of several tables kept in a single table, its keys prefixed: their writes share one changelog
    partition, so they reach it in the order they were made."""

    def __init__(self, table: Table, prefix: str) -> None:
        self.table = table
        self.prefix = prefix

    def get(self, key: str) -> Any:
        """The value of a key, or None."""
        return self.table.get(self.prefix + key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.table[self.prefix + key] = value

    def __delitem__(self, key: str) -> None:
        del self.table[self.prefix + key]
