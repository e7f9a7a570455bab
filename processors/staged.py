"""A batch's view of the identity state: reads see the batch's own writes; `writes` hands them to the checkpoint.

The four tables live in one store under prefixes (one changelog partition). A `Cache` of committed values,
kept across batches while the worker owns the store, spares reading and decoding them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from processors.resolve import Reads, Tables
from processors.state_store import Write
from seamline.processor_config import STATE_CACHE_ENTRIES

TABLES = ("golden", "links", "index", "held")
_DELETED = object()
GROUP_SEPARATOR = "|"
"""A scan whose prefix ends with it finds the batch's writes in their group, not among all of them ('d:<id>|')."""


class Committed(Protocol):
    """What a batch reads committed values from: the state store; writes go to the checkpoint."""

    def get(self, key: str) -> Any: ...

    def get_many(self, keys: list[str]) -> list[Any]: ...

    def scan(self, prefix: str) -> list[str]: ...


class Cache(dict[str, Any]):
    """Committed values of one table (_DELETED for known-absent keys), in two generations of about `limit` / 2
    entries each: when the young one (the dict itself) is full it becomes the old one, whose keys move back as they
    are read. The keys in use stay cached; the others are gone after two generations."""

    def __init__(self, limit: int = STATE_CACHE_ENTRIES) -> None:
        super().__init__()
        self.limit = limit
        self.old: dict[str, Any] = {}

    def lookup(self, key: str) -> Any:
        """The cached value of a key, or None when it is not cached."""
        value = self.get(key)
        if value is None:
            value = self.old.pop(key, None)
            if value is not None:
                self[key] = value
        return value

    def keep(self, values: dict[str, Any]) -> None:
        """Cache a batch's committed writes, starting a new generation first when they do not fit."""
        if len(self) + len(values) > self.limit // 2:
            self.old = dict(self)
            super().clear()
        self.update(values)

    def clear(self) -> None:
        """Forget both generations."""
        super().clear()
        self.old = {}


class Staged:
    """Buffers the writes of one batch over the keys of `store` that start with `prefix`."""

    def __init__(self, store: Committed, prefix: str = "", cache: Cache | None = None) -> None:
        self.store = store
        self.prefix = prefix
        self.cache = Cache() if cache is None else cache
        self._values: dict[str, Any] = {}  # what the batch read or wrote; _DELETED for absent
        self._written: dict[str, None] = {}  # ordered, so a batch's writes reach the store in a fixed order
        self._groups: dict[str, list[str]] = {}  # each written key under each of its prefixes ending in "|"

    def get(self, key: str) -> Any:
        """The batch's value of a key: its own write, else the committed one."""
        value = self._values.get(key)
        if value is None:
            value = self.cache.lookup(key)
            if value is None:
                table_value = self.store.get(self.prefix + key)
                value = self.cache[key] = _DELETED if table_value is None else table_value
            self._values[key] = value
        return None if value is _DELETED else value

    def prefetch(self, keys: list[str]) -> None:
        """Read the committed values of the keys not cached yet in one call to the store, into the cache: a batch's
        later `get`s of them cost a dict lookup."""
        cache = self.cache
        missing = [key for key in dict.fromkeys(keys) if key not in self._values and cache.lookup(key) is None]
        if missing:
            found = self.store.get_many([self.prefix + key for key in missing])
            cache.update((key, _DELETED if value is None else value) for key, value in zip(missing, found, strict=True))

    def scan(self, prefix: str) -> list[str]:
        """The keys that start with `prefix` as the batch sees them: committed ones and its own writes, sorted."""
        committed = (key.removeprefix(self.prefix) for key in self.store.scan(self.prefix + prefix))
        seen = {key for key in committed if self._values.get(key) is not _DELETED}
        if prefix.endswith(GROUP_SEPARATOR):
            written: Iterable[str] = self._groups.get(prefix, ())
        else:
            written = (key for key in self._written if key.startswith(prefix))
        seen.update(key for key in written if self._values[key] is not _DELETED)
        return sorted(seen)

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._write(key)

    def __delitem__(self, key: str) -> None:
        self._values[key] = _DELETED
        self._write(key)

    def _write(self, key: str) -> None:
        if key in self._written:
            return
        self._written[key] = None
        end = key.find(GROUP_SEPARATOR)
        while end >= 0:
            self._groups.setdefault(key[: end + 1], []).append(key)
            end = key.find(GROUP_SEPARATOR, end + 1)

    def writes(self) -> list[Write]:
        """The batch's writes in the order first made, as keys of the store; None deletes."""
        prefix, values = self.prefix, self._values
        return [(prefix + key, None if (value := values[key]) is _DELETED else value) for key in self._written]

    def settle(self) -> None:
        """The batch's writes are committed: keep them as the cached values and start the next batch."""
        values = self._values
        self.cache.keep({key: values[key] for key in self._written})
        values.clear()
        self._written.clear()
        self._groups.clear()


class StagedState:
    """The four identity tables of one batch, staged over `store`."""

    def __init__(self, store: Committed, caches: list[Cache] | None = None) -> None:
        self.store = store
        caches = caches or [Cache() for _ in TABLES]
        self._staged = [Staged(store, f"{name}:", cache) for name, cache in zip(TABLES, caches, strict=True)]
        self.tables = Tables(*self._staged)

    def prefetch(self, reads: Reads) -> None:
        """Read what a batch will read first, a table's keys at a time (`Resolver.reads`)."""
        _, links, index, _ = self._staged
        links.prefetch(reads.links)
        index.prefetch(reads.index)

    def writes(self) -> list[Write]:
        """Every table's writes of the batch, in a fixed order; None deletes."""
        return [write for staged in self._staged for write in staged.writes()]

    def settle(self) -> None:
        """The batch's writes are committed: they become the cached values."""
        for staged in self._staged:
            staged.settle()
