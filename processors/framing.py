"""Many small items in few Kafka records: grouping by size, and the identity topic's frames.

A frame is the cleansed changes of one cleanse batch as JSON lines (JSON escapes every newline inside a
value), so the resolve stage receives a batch as a handful of records rather than one record per change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

FRAME_BYTES = 512 * 1024
"""About the most one frame holds: well under Kafka's default 1 MB record limit."""


def groups(items: Sequence[T], sizes: Sequence[int], limit: int) -> list[list[T]]:
    """`items` in order, cut into groups whose sizes add up to at most `limit` (an item larger than that alone)."""
    made: list[list[T]] = [[]]
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if made[-1] and total + size > limit:
            made.append([])
            total = 0
        made[-1].append(item)
        total += size
    return made


def frames(lines: Sequence[bytes]) -> list[bytes]:
    """JSON lines joined into frames of at most about FRAME_BYTES each; none for no lines."""
    if not lines:
        return []
    return [b"\n".join(group) for group in groups(lines, [len(line) + 1 for line in lines], FRAME_BYTES)]


def lines(frame: bytes) -> list[bytes]:
    """The JSON lines of one frame."""
    return frame.split(b"\n")
