"""A batch's view of a table: reads see the batch's own writes; writes reach the table only on `commit`.

The resolve stage publishes a batch's records and waits for Kafka's acknowledgement before its tables
change, so a crash in between replays the batch against the state it started from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.resolve import Table

_DELETED = object()


class Staged:
    """Buffers the writes of one batch over a table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._values: dict[str, Any] = {}  # what the batch read or wrote; _DELETED for absent
        self._written: set[str] = set()

    def get(self, key: str) -> Any:
        """The batch's value of a key: its own write, else the table's."""
        value = self._values.get(key)
        if value is None:
            table_value = self.table.get(key)
            value = self._values[key] = _DELETED if table_value is None else table_value
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
        for key in self._written:
            value = self._values[key]
            if value is not _DELETED:
                self.table[key] = value
            elif self.table.get(key) is not None:
                del self.table[key]
        self._values.clear()
        self._written.clear()
