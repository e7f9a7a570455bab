"""Many small items in few Kafka records: grouping by size, and the identity topic's frames.

A frame is the encoded changes of one cleanse batch as a msgpack array of binary items, so the resolve stage
receives a batch as a handful of records rather than one record per change, and each item keeps its own bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import msgpack

from processors.packing import pack

T = TypeVar("T")

FRAME_BYTES = 512 * 1024
"""About the most one frame holds: well under Kafka's default 1 MB record limit."""
_HEADER_BYTES = 5
"""The most msgpack spends on the length of an array or a binary item."""


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


def frames(items: Sequence[bytes]) -> list[bytes]:
    """Items packed into frames of at most FRAME_BYTES each (an item larger than that alone); none for no items."""
    if not items:
        return []
    sizes = [len(item) + _HEADER_BYTES for item in items]
    return [pack(group) for group in groups(items, sizes, FRAME_BYTES - _HEADER_BYTES)]


def items(frame: bytes) -> list[bytes]:
    """The items of one frame; ValueError for bytes that are not a frame."""
    try:
        unpacked = msgpack.unpackb(frame)
    except ValueError as exc:
        raise ValueError(f"not a msgpack value: {str(exc) or type(exc).__name__}") from None
    if not isinstance(unpacked, list) or not all(type(item) is bytes for item in unpacked):
        raise ValueError(f"a msgpack {type(unpacked).__name__}, not an array of binary items")
    return unpacked
