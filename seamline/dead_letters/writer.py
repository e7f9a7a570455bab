"""The one dead-letter writer: the original bytes plus headers that say why, so nothing is lost."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from seamline.config import KafkaConfig
from seamline.metrics import Metrics
from seamline.publisher import Publisher, RecordTooLarge
from seamline.topics import dlq_topic

log = logging.getLogger(__name__)

HEADER_PREFIX = "seamline."
EVENT_ID_HEADER = HEADER_PREFIX + "event_id"
"""On canonical records: the change whose resolution made this version."""
REASON_MAX_CHARS = 2000
"""Longer reasons (a library's message quoting whole schemas or bodies) are cut, so every letter stays small."""


@dataclass(frozen=True)
class Failed:
    """A record that a stage could not process, and why."""

    topic: str
    partition: int
    offset: int
    """-1 with partition -1: a source's change that never reached its topic."""
    key: bytes | None
    value: bytes | None
    error_class: str
    reason: str
    attempt: int = 1
    event_id: str | None = None
    """The change that led to the record (seamline/events.py), when the stage knows it."""


def dlq_headers(stage: str, failed: Failed) -> list[tuple[str, bytes]]:
    """The headers that explain a dead letter."""
    fields = {
        "stage": stage,
        "error.class": failed.error_class,
        "error.reason": failed.reason
        if len(failed.reason) <= REASON_MAX_CHARS
        else failed.reason[:REASON_MAX_CHARS] + "…",
        "original.topic": failed.topic,
        "original.partition": str(failed.partition),
        "original.offset": str(failed.offset),
        "attempt": str(failed.attempt),
        "failed_at_ms": str(int(time.time() * 1000)),
    }
    if failed.event_id is not None:
        fields["event_id"] = failed.event_id
    return [(HEADER_PREFIX + name, value.encode()) for name, value in fields.items()]


def read_headers(
    headers: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> dict[str, str]:
    """The seamline headers of a dead letter as a dict without the prefix.

    Takes what confluent-kafka's Message.headers() is typed to return; a consumed record's are (name, bytes) pairs.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers or []
    return {
        name.removeprefix(HEADER_PREFIX): value.decode() if isinstance(value, bytes) else value
        for name, value in pairs
        if name.startswith(HEADER_PREFIX) and value is not None
    }


class DeadLetters:
    """Writes failed records of one stage to `dlq.<stage>` through the caller's publisher."""

    def __init__(self, kafka: KafkaConfig, publisher: Publisher, stage: str, metrics: Metrics) -> None:
        self._publisher = publisher
        self._stage = stage
        self._metrics = metrics
        self.topic = dlq_topic(kafka, stage)

    def send(self, failed: Failed) -> None:
        """Queue one dead letter; the caller flushes the publisher before committing its input."""
        where = failed.topic
        origin = f"from {where}[{failed.partition}]@{failed.offset}" if failed.offset >= 0 else f"for {where}"
        log.warning(
            "dead letter %s: %s",
            origin,
            failed.reason,
            extra={"event_id": failed.event_id, "stage": self._stage},
        )
        self._metrics.errors.labels(self._stage, failed.error_class).inc()
        headers = dlq_headers(self._stage, failed)
        try:
            self._publisher.send(self.topic, failed.value, key=failed.key, headers=headers)
        except RecordTooLarge as exc:  # the letter of a record too large to publish: its key and why, not its value
            omitted = [(HEADER_PREFIX + "value.omitted_bytes", str(len(failed.value or b"")).encode())]
            try:
                self._publisher.send(self.topic, None, key=failed.key, headers=headers + omitted)
            except RecordTooLarge:
                raise exc from None  # the key alone is over the limit: nothing can say which record failed
