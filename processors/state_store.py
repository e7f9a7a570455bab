"""The resolve stage's state on disk: RocksDB of one identity partition, and the changelog offset it holds.

The store is a copy of its changelog topic up to `position`, the next changelog offset to apply. A batch's
writes and the new position go in one RocksDB write batch, so the store never holds half a batch nor data the
changelog lacks: it is written only after the batch's Kafka transaction committed (processors/checkpoint.py).
A store that cannot be opened is wiped and rebuilt from the changelog.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from processors.packing import pack, unpack

log = logging.getLogger(__name__)

POSITION_KEY = b"\x00position"
"""Where the store keeps its changelog position; state keys are text, so no state key starts with NUL."""
BLOCK_CACHE_BYTES = 32 * 1024 * 1024
WRITE_BUFFER_BYTES = 16 * 1024 * 1024
"""A memtable's size; with at most two, RocksDB holds at most ~64 MB of a worker's memory with the block cache."""

Write = tuple[str, Any]
"""A state key and its new value; None deletes the key."""


def encode(value: Any) -> bytes:
    """A state value as compact bytes (the store's and the changelog's codec)."""
    return pack(value)


def decode(data: bytes) -> Any:
    """The value `encode` made."""
    return unpack(data)


class StateStore:
    """One partition's state: `get` reads committed values; `apply` writes a batch and the position it reaches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = self._open()

    def _open(self) -> Rdict:
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(BLOCK_CACHE_BYTES))
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return Rdict(str(self.path), options)
        except Exception as exc:  # rocksdict raises a bare Exception for a damaged or foreign directory
            log.warning("state store %s cannot be opened (%s): rebuilding it from the changelog", self.path, exc)
            shutil.rmtree(self.path, ignore_errors=True)
            return Rdict(str(self.path), options)

    @property
    def position(self) -> int | None:
        """The next changelog offset to apply; None for a new store."""
        data = self._db.get(POSITION_KEY)
        return None if data is None else int(data)

    def get(self, key: str) -> Any:
        """The committed value of a key, or None."""
        data = self._db.get(key.encode())
        return None if data is None else decode(data)

    def get_many(self, keys: list[str]) -> list[Any]:
        """The committed values of keys (None for each one absent), read at once: cheaper than one `get` each."""
        found = cast(list[bytes | None], self._db.get([key.encode() for key in keys]))
        return [None if data is None else decode(data) for data in found]

    def scan(self, prefix: str) -> list[str]:
        """The committed keys that start with `prefix`, in order."""
        start = prefix.encode()
        found = []
        cursor = self._db.iter()
        cursor.seek(start)
        while cursor.valid() and (key := cursor.key()).startswith(start):
            found.append(key.decode())
            cursor.next()
        return found

    def apply(self, writes: Iterable[tuple[bytes, bytes | None]], position: int) -> None:
        """Write encoded (key, value or None) pairs and the position they bring the store to, all or none."""
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(POSITION_KEY, str(position).encode())
        self._db.write(batch)

    def wipe(self) -> None:
        """Forget everything: the store is rebuilt from the changelog's start."""
        self._db.close()
        Rdict.destroy(str(self.path))
        self._db = self._open()

    def close(self) -> None:
        """Release the database (its files stay for the next start)."""
        self._db.close()
