"""The sink runner: consume canonical topics in batches, write, send rejects to the DLQ, then commit."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from confluent_kafka import Consumer, Message, TopicPartition

from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord
from seamline.consumer_lag import LagExporter
from seamline.dead_letters.writer import EVENT_ID_HEADER, HEADER_PREFIX, DeadLetters, Failed, read_headers
from seamline.group_member import GroupCommits, readable
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.pii import FieldCipher
from seamline.publisher import Publisher
from seamline.retry import is_transient, retrying
from seamline.runtime import process_stop
from seamline.serde import AvroSerde
from seamline.topic_reader import record_position
from seamline.topics import canonical_topic, ensure_topics, sink_group
from sinks.deleted_versions import DeletedVersions
from sinks.target_health import TargetHealth

log = logging.getLogger(__name__)

STAGE = "sink"
_RETRY_ROUND_S = 20.0  # retries between two polls of the paused consumer; well under max.poll.interval.ms


class _Stopped(Exception):
    """A stop came while the target refused the batch: the run ends without committing it."""


class SinkRunner:
    """Runs one sink until stopped. Offsets advance only past records the target has (or rejected to the DLQ)."""

    def __init__(
        self,
        name: str,
        kafka: KafkaConfig,
        sink: Sink,
        entities: Sequence[str],
        metrics: Metrics,
        group_id: str | None = None,
        batch_size: int = 500,
        cipher: FieldCipher | None = None,
    ) -> None:
        self.name = name
        self.cipher = cipher or FieldCipher.disabled()
        self.kafka = kafka
        self.sink = sink
        self.metrics = metrics
        self.batch_size = batch_size
        self.topics = {canonical_topic(kafka, entity): entity for entity in entities}
        self.group_id = sink_group(kafka, name, group_id)
        self.serde = AvroSerde(kafka)
        self.publisher = Publisher(kafka)
        self.dead_letters = DeadLetters(kafka, self.publisher, f"sink.{name}", metrics)
        self.deleted = None if sink.remembers_deletes else DeletedVersions(kafka, name, self.publisher)
        self.health = TargetHealth(name, metrics.sink_failing)
        self._stopping = False
        self._commits = GroupCommits()

    def stop(self, *_: object) -> None:
        """Finish the current batch and return from run()."""
        self._stopping = True

    def run(
        self,
        stop_on_signals: bool = True,
        until: Mapping[tuple[str, int], int] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """Consume and write until stop() or, when `stop_on_signals` (main thread only), SIGTERM/SIGINT.

        With `until` ((topic, partition) -> end offset) it also returns once every such partition has been
        read and committed up to its end: a bounded run, as a replay is. `on_batch` hears each batch's size
        once its offsets are committed."""
        if stop_on_signals:
            process_stop.on_request(self.stop)
            process_stop.on_signals()
        ensure_topics(
            self.kafka, [*self.topics, self.dead_letters.topic, *([self.deleted.topic] if self.deleted else [])]
        )
        consumer = Consumer(client_settings(self.kafka, "consumer", **{"group.id": self.group_id}))
        consumer.subscribe(list(self.topics), on_assign=self._on_assign)
        self.sink.setup()
        lag = LagExporter(self.kafka, {self.group_id: list(self.topics)}, self.metrics)
        lag.start()
        remaining = dict(until or {})
        try:
            while not self._stopping and (until is None or remaining):
                messages = consumer.consume(self.batch_size, timeout=0.1)
                messages = [m for m in messages if readable(self.kafka, self.group_id, m)]
                if messages:
                    self._write_batch(consumer, messages)
                self._commit(consumer)
                if messages and on_batch is not None:
                    on_batch(len(messages))
                if remaining:
                    _drop_finished(consumer, remaining)
        except _Stopped:
            log.info("sink %s: stopped while its target refused a batch, which the next start reads again", self.name)
        finally:
            lag.stop()
            consumer.close()
            self.sink.close()

    def _commit(self, consumer: Consumer) -> None:
        """Commit the consumer's positions that moved: past the written batch, and past transaction markers, which
        move a position without a record (the processor publishes in transactions), so lag reaches 0 and a bounded
        run ends. Retried while the group's coordinator moves (a broker died). When the group rebalanced
        meanwhile, the partitions' new owner reads the batch again and its version-guarded writes change nothing:
        consuming goes on, no restart needed."""
        if not self._commits.commit(consumer, consumer.position(consumer.assignment())):
            log.info("sink %s: the group rebalanced before the commit; the batch is read again", self.name)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commits.forget(partitions)
        log.info(
            "sink %s: partitions assigned: %s",
            self.name,
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "none",
        )
        if self.deleted is not None:
            self.deleted.load()  # the partitions' previous owner may have deleted records since

    def _write_batch(self, consumer: Consumer, messages: list[Message]) -> None:
        started = time.perf_counter()
        records: list[SinkRecord] = []
        for topic, count in Counter(message.topic() for message in messages).items():
            self.metrics.events_in.labels(STAGE, topic).inc(count)
        for message in messages:
            try:
                records.append(self._record(message))
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._reject(Rejected(_unreadable(self.topics, message), str(exc), type(exc).__name__))
        write = partial(self._write, consumer)
        outcome = write(records) if self.deleted is None else self.deleted.write_through(records, write)
        for item in outcome.rejected:
            self._reject(item)
        self.publisher.flush()
        self._count(records, outcome)
        self.metrics.sink_batch_size.labels(self.name).observe(len(records))
        self.metrics.batch_seconds.labels(STAGE).observe(time.perf_counter() - started)

    def _write(self, consumer: Consumer, records: list[SinkRecord]) -> Outcome:
        """Write until the target takes the batch. While it fails transiently, or refuses every record until it is
        fixed (TargetFailing), the input stays paused and the consumer keeps its group membership, so lag grows
        instead of memory and no rebalance starts; nothing is rejected. A stop meanwhile raises _Stopped."""
        started = time.perf_counter()
        paused: list[TopicPartition] = []
        try:
            while True:
                try:
                    for attempt in retrying(timeout_s=_RETRY_ROUND_S):
                        with attempt:
                            if attempt.num > 1:
                                if self._stopping:
                                    raise _Stopped
                                self.metrics.sink_retries.labels(self.name).inc()
                            outcome = self._attempt(records)
                    self.health.took()
                    return outcome
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    if not paused:
                        paused = consumer.assignment()
                        consumer.pause(paused)
                    _keep_alive(consumer)
        finally:
            if paused:
                consumer.resume(paused)
            self.metrics.sink_write_seconds.labels(self.name).observe(time.perf_counter() - started)

    def _attempt(self, records: list[SinkRecord]) -> Outcome:
        """One write of the batch; a failure that retrying can cure is the target's health's to report."""
        try:
            return self.sink.write(records)
        except Exception as exc:
            if is_transient(exc):
                self.health.failed(exc)
            raise

    def _count(self, records: list[SinkRecord], outcome: Outcome) -> None:
        """Metrics of a written batch, counted per batch rather than per record (they are on the hot path)."""
        refused = {id(item.record) for item in outcome.rejected}
        unchanged = {id(record) for record in outcome.unchanged}
        written_at = time.time()
        outcomes: Counter[tuple[str, str]] = Counter()
        written: Counter[str] = Counter()
        lags: dict[str, list[float]] = {}
        for record in records:
            kind = "rejected" if id(record) in refused else "unchanged" if id(record) in unchanged else "written"
            outcomes[(record.entity, kind)] += 1
            if kind == "written" and record.value is not None:
                written[record.topic] += 1
                lags.setdefault(record.entity, []).append(max(0.0, written_at - record.value["updated_at"] / 1000))
        for (entity, kind), count in outcomes.items():
            self.metrics.sink_writes.labels(self.name, entity, kind).inc(count)
        for topic, count in written.items():
            self.metrics.events_out.labels(STAGE, topic).inc(count)
        for entity, seconds in lags.items():
            histogram = self.metrics.end_to_end_lag.labels(self.name, entity)
            for lag in seconds:
                histogram.observe(lag)

    def _record(self, message: Message) -> SinkRecord:
        topic, partition, offset = record_position(message)
        entity = self.topics[topic]
        value = self.serde.decode(topic, message.value())
        return SinkRecord(
            entity=entity,
            id=self.serde.decode(topic, message.key(), key=True),
            value=None if value is None else self.cipher.open(entity, value),
            topic=topic,
            partition=partition,
            offset=offset,
            raw_key=message.key(),
            raw_value=message.value(),
            event_id=_event_id(message),
        )

    def _reject(self, item: Rejected) -> None:
        record = item.record
        self.dead_letters.send(
            Failed(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.raw_key,
                value=record.raw_value,
                error_class=item.error_class,
                reason=item.reason,
                event_id=record.event_id,
            )
        )


def _unreadable(topics: dict[str, str], message: Message) -> SinkRecord:
    topic, partition, offset = record_position(message)
    return SinkRecord(
        entity=topics[topic],
        id="",
        value=None,
        topic=topic,
        partition=partition,
        offset=offset,
        raw_key=message.key(),
        raw_value=message.value(),
    )


def _event_id(message: Message) -> str | None:
    return read_headers(message.headers()).get(EVENT_ID_HEADER.removeprefix(HEADER_PREFIX))


def _keep_alive(consumer: Consumer) -> None:
    """Poll the paused consumer: group membership lives on, and nothing is delivered while paused (a record
    that still comes is sought back to, to be read again after the resume)."""
    message = consumer.poll(0)
    if message is not None and message.error() is None:
        consumer.seek(TopicPartition(*record_position(message)))


def _drop_finished(consumer: Consumer, remaining: dict[tuple[str, int], int]) -> None:
    """Forget the partitions whose committed position has reached their end offset."""
    assigned = [TopicPartition(topic, partition) for topic, partition in remaining]
    for position in consumer.committed(assigned, timeout=10):
        if position.offset >= remaining[(position.topic, position.partition)]:
            del remaining[(position.topic, position.partition)]
