"""The sink interface: a sink writes a batch of canonical records and says which ones it rejected."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True)
class Rejected:
    """A record the target refused for its content (constraint, bad value); it goes to the DLQ."""

    record: SinkRecord
    reason: str
    error_class: str


class Sink(ABC):
    """A target system.

    Delivery: every write is idempotent and guarded by `version`, so the runner's at-least-once
    redelivery (offsets are committed only after write() returns) has exactly-once effect.
    """

    @abstractmethod
    def setup(self) -> None:
        """Connect and prepare the target (e.g. create tables)."""

    @abstractmethod
    def write(self, records: Sequence[SinkRecord]) -> list[Rejected]:
        """Write a batch in order; raise a transient error to have the whole batch retried."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
