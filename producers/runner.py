"""The producer runner: publishes a source's changes to Kafka and commits its position only after acks.

A change the source refused (a value its Avro type cannot hold) goes to the source's DLQ, `dlq.source.<name>`,
keyed like the change and with its columns as text, before the position after it is committed.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter

from producers.positions import PositionStore
from seamline.config import KafkaConfig
from seamline.connectors.source import Checkpoint, Refused, Source
from seamline.dead_letters.writer import DeadLetters, Failed
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.publisher import DeliveryFailed, Publisher, RecordTooLarge
from seamline.runtime import process_stop
from seamline.serde import AvroSerde
from seamline.topics import ensure_topics, offsets_topic, source_topic

log = logging.getLogger(__name__)

STAGE = "source"


class SourceRunner:
    """Runs one source until stopped: produce, flush, then commit the newest checkpoint."""

    def __init__(
        self,
        kafka: KafkaConfig,
        source: Source,
        metrics: Metrics,
        commit_interval_s: float = 0.5,
        max_pending: int = 50_000,
    ) -> None:
        self.kafka = kafka
        self.source = source
        self.metrics = metrics
        self.commit_interval_s = commit_interval_s
        self.max_pending = max_pending
        self.serde = AvroSerde(kafka)
        self.publisher = Publisher(kafka)
        self.positions = PositionStore(kafka, self.serde, self.publisher)
        self._stopping = False
        self._targets: dict[tuple[str, str], tuple[str, Counter]] = {}
        self._dead_letters: DeadLetters | None = None

    def stop(self, *_: object) -> None:
        """Finish the current step, commit what Kafka acknowledged, and return from run()."""
        self._stopping = True

    def run(self) -> None:
        """Capture and publish until stop() or SIGTERM/SIGINT (which also end a source's idle wait)."""
        process_stop.on_request(self.stop)
        process_stop.on_signals()
        ensure_topics(self.kafka, [offsets_topic(self.kafka)])
        resume = self.positions.load(self.source.name)
        log.info("source %s resumes from %s", self.source.name, resume)
        self.source.setup(resume)
        pending: Checkpoint | None = None
        unflushed = 0
        last_commit = last_lag = time.monotonic()
        try:
            for item in self.source.changes():
                if isinstance(item, Change):
                    self._publish(item)
                    unflushed += 1
                elif isinstance(item, Refused):
                    self._dead_letter(item)
                    unflushed += 1
                elif isinstance(item, Checkpoint):
                    pending = item
                due = time.monotonic() - last_commit >= self.commit_interval_s
                if pending is not None and (due or unflushed >= self.max_pending or item is None):
                    self._commit(pending)
                    pending, unflushed, last_commit = None, 0, time.monotonic()
                if time.monotonic() - last_lag >= 1.0:
                    self.source.observe_lag()
                    last_lag = time.monotonic()
                if self._stopping:
                    break
            if pending is not None:
                self._commit(pending)
        finally:
            self.publisher.flush()
            self.publisher.close()
            self.source.close()

    def _publish(self, change: Change) -> None:
        target = self._targets.get((change.system, change.object)) or self._target(change.system, change.object)
        topic, published = target
        schema = None if change.row_schema is None else change.row_schema.envelope_schema()
        value = self.serde.encode(topic, change.envelope(), schema=schema)
        key = self.serde.encode(topic, {"columns": change.key}, key=True)
        try:
            self.publisher.send(topic, value, key=key)
        except RecordTooLarge as exc:  # the letter keeps the key and why; the value only if it fits
            self._letters().send(self._failed(change, key, value, type(exc).__name__, str(exc)))
            return
        published.inc()

    def _dead_letter(self, refused: Refused) -> None:
        """Send a refused change to the source's DLQ, keyed like the change, its rows as text."""
        letters = self._letters()
        change = refused.change
        key = self.serde.encode(letters.topic, {"columns": change.key}, key=True)
        value = self.serde.encode(letters.topic, change.envelope())
        letters.send(self._failed(change, key, value, refused.error_class, refused.reason))

    def _letters(self) -> DeadLetters:
        """The source's DLQ writer, its topic created on first use."""
        if self._dead_letters is None:
            self._dead_letters = DeadLetters(self.kafka, self.publisher, f"{STAGE}.{self.source.name}", self.metrics)
            ensure_topics(self.kafka, [self._dead_letters.topic])
        return self._dead_letters

    def _failed(self, change: Change, key: bytes, value: bytes, error_class: str, reason: str) -> Failed:
        """A dead letter of a change that never reached its topic."""
        return Failed(
            topic=source_topic(self.kafka, change.system, change.object),
            partition=-1,
            offset=-1,
            key=key,
            value=value,
            error_class=error_class,
            reason=reason,
            event_id=change.event_id,
        )

    def _target(self, system: str, obj: str) -> tuple[str, Counter]:
        """The topic of an object (created on first use) and its published-events counter."""
        topic = source_topic(self.kafka, system, obj)
        ensure_topics(self.kafka, [topic])
        target = self._targets[(system, obj)] = (topic, self.metrics.events_out.labels(STAGE, topic))
        return target

    def _commit(self, checkpoint: Checkpoint) -> None:
        try:
            self.publisher.flush()
        except DeliveryFailed as exc:
            self.metrics.publish_errors.labels(self.source.name).inc(exc.count)
            raise
        self.positions.save(self.source.name, checkpoint)
        self.publisher.flush()
        self.source.commit(checkpoint)
        self.metrics.position_committed_at.labels(self.source.name).set_to_current_time()
