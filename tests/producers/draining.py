"""Draining a source's generator in tests: its items until a condition holds, or for a while."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from seamline.connectors.source import Checkpoint, Refused
from seamline.events import Change

Item = Change | Checkpoint
CdcItem = Change | Refused | Checkpoint
"""What postgres_cdc and sql_poll yield: they refuse a change holding a value its Avro type cannot hold."""


@overload
def take(changes: Iterator[Item | None], until: Callable[[list[Item]], bool], timeout: float = 15) -> list[Item]: ...
@overload
def take(
    changes: Iterator[CdcItem | None], until: Callable[[list[CdcItem]], bool], timeout: float = 15
) -> list[CdcItem]: ...
def take(changes: Iterator[Any], until: Callable[[list[Any]], bool], timeout: float = 15) -> list[Any]:
    """Items from the generator until `until(items)` holds; fail after `timeout` seconds."""
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while not until(items):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {items}")
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def checkpoints(n: int) -> Callable[[Sequence[CdcItem]], bool]:
    """A condition for take(): at least n checkpoints."""
    return lambda items: sum(isinstance(i, Checkpoint) for i in items) >= n


@overload
def idle(changes: Iterator[Item | None], seconds: float = 2.0) -> list[Item]: ...
@overload
def idle(changes: Iterator[CdcItem | None], seconds: float = 2.0) -> list[CdcItem]: ...
def idle(changes: Iterator[Any], seconds: float = 2.0) -> list[Any]:
    """Everything the generator yields during `seconds` (it yields None when idle)."""
    items: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def changes_in(items: Sequence[CdcItem]) -> list[Change]:
    """The changes among the items, checkpoints left out."""
    return [i for i in items if isinstance(i, Change)]
