"""Draining a source's generator in tests: its items until a condition holds, or for a while."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from seamline.connectors.source import Checkpoint
from seamline.events import Change

Item = Change | Checkpoint


def take(changes: Iterator[Item | None], until: Callable[[list[Item]], bool], timeout: float = 15) -> list[Item]:
    """Items from the generator until `until(items)` holds; fail after `timeout` seconds."""
    items: list[Item] = []
    deadline = time.monotonic() + timeout
    while not until(items):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {items}")
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def checkpoints(n: int) -> Callable[[list[Item]], bool]:
    """A condition for take(): at least n checkpoints."""
    return lambda items: sum(isinstance(i, Checkpoint) for i in items) >= n


def idle(changes: Iterator[Item | None], seconds: float = 2.0) -> list[Item]:
    """Everything the generator yields during `seconds` (it yields None when idle)."""
    items: list[Item] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def changes_in(items: list[Item]) -> list[Change]:
    """The changes among the items, checkpoints left out."""
    return [i for i in items if isinstance(i, Change)]
