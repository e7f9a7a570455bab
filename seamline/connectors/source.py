"""The source interface: a source yields changes and checkpoints; the runner does everything else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass

from seamline.events import Change
from seamline.sections import Problem


def split_table(table: str) -> tuple[str, str]:
    """('schema', 'table') of a configured 'table' or 'schema.table'; the schema defaults to public."""
    schema, _, name = table.rpartition(".")
    return schema or "public", name


class SourceSetupError(Exception):
    """A source cannot start (unknown table, wrong credentials, ...); the message is one line saying what to fix."""


def first_line(exc: BaseException | None) -> str:
    """The first line of an error's message (drivers add hints and context below it), or its type's name."""
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class SourceTables:
    """What a source system holds, as `seamline validate --connect` reads it: object -> its columns, and the
    problems found (a configured table that does not exist), located under the source's section."""

    columns: dict[str, frozenset[str]]
    problems: list[Problem]


@dataclass(frozen=True)
class Checkpoint:
    """Every change yielded before this is complete up to `position` (the next thing to read).

    `state` is what else the source needs to resume (JSON text), e.g. an incremental snapshot's progress.
    """

    position: str
    snapshot_done: bool
    state: str | None = None


UNREPRESENTABLE = "UnrepresentableValue"
"""The error class of a change refused for a value its Avro type cannot hold."""


@dataclass(frozen=True)
class Refused:
    """A change the source read but cannot publish as typed, for a value its Avro type cannot hold.

    The runner sends it to the source's DLQ (`dlq.source.<name>`): `change` carries its rows as text (no row
    schema), so the letter loses no value; `reason` says which columns and what to do, never quoting a value.
    """

    change: Change
    error_class: str
    reason: str


class Source(ABC):
    """A source of change events. Constructed as `Kind(name, config, metrics)`.

    Delivery: at-least-once. The runner calls `commit(checkpoint)` only after Kafka acknowledged
    every change yielded before that checkpoint, so a restart resumes at or before it.
    """

    name: str

    @abstractmethod
    def setup(self, resume: Checkpoint | None) -> None:
        """Connect and prepare to resume after `resume` (None: nothing stored yet)."""

    @abstractmethod
    def changes(self) -> Generator[Change | Refused | Checkpoint | None, None, None]:
        """Yield changes (or refused ones) and checkpoints in source order; yield None when idle for a moment."""

    @abstractmethod
    def commit(self, checkpoint: Checkpoint) -> None:
        """Tell the source that everything before `checkpoint` is safely in Kafka."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def observe_lag(self) -> None:
        """Set the source's lag gauges (bytes and/or seconds behind); the runner calls it about once a second."""
