"""The sink interface: a sink writes a batch of canonical records and says which ones it rejected."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

MASK = "<value>"


@dataclass(frozen=True)
class SinkRecord:
    """One canonical record read from Kafka. `value` is None for a tombstone."""

    entity: str
    id: str
    value: dict[str, Any] | None
    topic: str
    partition: int
    offset: int
    raw_key: bytes | None
    raw_value: bytes | None
    event_id: str | None = None
    """The change whose resolution made this version (header seamline.event_id), for logs and dead letters."""


class TargetFailing(Exception):
    """The target refuses every record for now (a missing column or table, a revoked privilege, a read-only or
    full database, refused credentials): the runner pauses the input and retries the batch until it is fixed.

    `problem` says what is wrong, in terms that stay the same while it lasts; `fix` says what to do about it.
    """

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Rejected:
    """A record the target refused for its content (constraint, bad value); it goes to the DLQ."""

    record: SinkRecord
    reason: str
    error_class: str


def without_values(message: str, sent: object) -> str:
    """A target's error message for a dead letter, every value of `sent` (the row or record written, nested lines
    included) longer than two characters replaced by MASK, the longest first: targets quote what they refuse."""
    for text in sorted({str(value) for value in _scalars(sent) if len(str(value)) > 2}, key=len, reverse=True):
        message = message.replace(text, MASK)
    return message


def _scalars(value: object) -> Iterator[object]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _scalars(item)
    elif value is not None:
        yield value


@dataclass
class Outcome:
    """What became of a batch: records refused for their content (to the DLQ), and records left alone because
    the target already held them (loop prevention, or a version it already had, where the sink can tell)."""

    rejected: list[Rejected] = field(default_factory=list)
    unchanged: list[SinkRecord] = field(default_factory=list)


class Sink(ABC):
    """A target system.

    Delivery: every write is idempotent and guarded by `version`, so the runner's at-least-once
    redelivery (offsets are committed only after write() returns) has exactly-once effect.
    """

    remembers_deletes: ClassVar[bool] = False
    """Whether the target itself keeps deleted versions; if not, the runner does (sinks/deleted_versions.py)."""

    @abstractmethod
    def setup(self) -> None:
        """Connect and prepare the target (e.g. create tables)."""

    @abstractmethod
    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        """Write a batch in order; raise a transient error (seamline.retry.is_transient) or TargetFailing (an error
        every record would meet) to have the whole batch retried, with its input paused; a record refused for its
        own content is returned as rejected."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
