"""The sink runner: consume canonical topics in batches, write, send rejects to the DLQ, then commit."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from types import FrameType

from confluent_kafka import Consumer, Message, TopicPartition

from seamline.config import KafkaConfig
from seamline.dlq import DeadLetters, Failed
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.retry import is_transient, retrying
from seamline.serde import AvroSerde
from seamline.topics import canonical_topic, ensure_topics
from sinks.sink import Rejected, Sink, SinkRecord

log = logging.getLogger(__name__)

STAGE = "sink"


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
    ) -> None:
        self.name = name
        self.kafka = kafka
        self.sink = sink
        self.metrics = metrics
        self.batch_size = batch_size
        self.topics = {canonical_topic(kafka, entity): entity for entity in entities}
        self.group_id = group_id or f"seamline-sink-{name}"
        self.serde = AvroSerde(kafka)
        self.publisher = Publisher(kafka)
        self.dead_letters = DeadLetters(kafka, self.publisher, f"sink.{name}", metrics)
        self._stopping = False

    def stop(self, *_: object) -> None:
        """Finish the current batch and return from run()."""
        self._stopping = True

    def run(self) -> None:
        """Consume and write until stop() or SIGTERM/SIGINT."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        ensure_topics(self.kafka, [*self.topics, self.dead_letters.topic])
        consumer = Consumer(client_settings(self.kafka, "consumer", **{"group.id": self.group_id}))
        consumer.subscribe(list(self.topics))
        self.sink.setup()
        try:
            while not self._stopping:
                messages = consumer.consume(self.batch_size, timeout=0.1)
                messages = [m for m in messages if self._readable(m)]
                if not messages:
                    continue
                self._write_batch(messages)
                consumer.commit(offsets=_next_offsets(messages), asynchronous=False)
        finally:
            consumer.close()
            self.sink.close()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        self.stop()

    def _readable(self, message: Message) -> bool:
        if message.error() is None:
            return True
        log.warning("consumer error on %s: %s", message.topic(), message.error())
        return False

    def _write_batch(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        records: list[SinkRecord] = []
        for message in messages:
            self.metrics.events_in.labels(STAGE, message.topic()).inc()
            try:
                records.append(self._record(message))
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._reject(Rejected(_unreadable(self.topics, message), str(exc), type(exc).__name__))
        for attempt in retrying():
            with attempt:
                rejected = self.sink.write(records)
        for item in rejected:
            self._reject(item)
        self.publisher.flush()
        written_at = time.time()
        refused = {id(item.record) for item in rejected}
        for record in records:
            if id(record) in refused or record.value is None:
                continue
            self.metrics.events_out.labels(STAGE, record.topic).inc()
            self.metrics.end_to_end_lag.labels(self.name, record.entity).observe(
                max(0.0, written_at - record.value["updated_at"] / 1000)
            )
        self.metrics.batch_seconds.labels(STAGE).observe(time.perf_counter() - started)

    def _record(self, message: Message) -> SinkRecord:
        topic = message.topic()
        return SinkRecord(
            entity=self.topics[topic],
            id=self.serde.decode(topic, message.key(), key=True),
            value=self.serde.decode(topic, message.value()),
            topic=topic,
            partition=message.partition(),
            offset=message.offset(),
            raw_key=message.key(),
            raw_value=message.value(),
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
            )
        )


def _unreadable(topics: dict[str, str], message: Message) -> SinkRecord:
    return SinkRecord(
        entity=topics[message.topic()],
        id="",
        value=None,
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        raw_key=message.key(),
        raw_value=message.value(),
    )


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """The position after the last message of each partition: a committed offset is the next to read."""
    last: dict[tuple[str, int], int] = {}
    for message in messages:
        last[(message.topic(), message.partition())] = message.offset()
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]
