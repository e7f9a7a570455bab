"""The one Kafka producer wrapper: idempotent, acks=all, and it knows whether everything it sent was acknowledged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings

_POLL_EVERY = 1000


class DeliveryFailed(RuntimeError):
    """Kafka refused or timed out `count` records; positions and offsets must not advance past them."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


class RecordTooLarge(ValueError):
    """A record over the pipeline's kafka.max_record_bytes, refused before Kafka would: the stage dead-letters it."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(
            f"the record for {topic} is {size:,} bytes, over kafka.max_record_bytes ({limit:,}): keep such values "
            "out of the mapped columns, or raise max_record_bytes (the topics take it when seamline creates them)"
        )
        self.size = size


class Publisher:
    """Produces records and, on flush(), guarantees every one before it was acknowledged by Kafka."""

    def __init__(self, kafka: KafkaConfig, **overrides: Any) -> None:
        self.producer = Producer(client_settings(kafka, "producer", **overrides))
        self.max_record_bytes = kafka.max_record_bytes
        self._failures: list[str] = []
        self._unpolled = 0

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error.str()}")

    def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one record (to `partition`, else where its key hashes), waiting for room in the local queue when it
        is full.

        `on_delivery` (called from poll/flush) takes over the record's outcome: flush() then does not report it.
        It hears of failures only, unless the publisher was made with `delivery.report.only.error` False.
        RecordTooLarge, before anything is queued, for a record over kafka.max_record_bytes.
        """
        size = len(value or b"") + len(key or b"")
        if headers:
            size += sum(len(name) + len(data) for name, data in headers)
        if size > self.max_record_bytes:
            raise RecordTooLarge(topic, size, self.max_record_bytes)
        while True:
            try:
                self.producer.produce(
                    topic,
                    value=value,
                    key=key,
                    # confluent-kafka's hint is an invariant List[Tuple[str, str | bytes | None]]; (str, bytes) fits
                    headers=headers,  # type: ignore[arg-type]
                    on_delivery=on_delivery or self._on_delivery,
                    partition=-1 if partition is None else partition,  # -1: the partitioner's choice
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self._queued(1)

    def send_all(self, topic: str, records: Sequence[tuple[bytes, bytes | None]], partition: int | None = None) -> None:
        """Queue (key, value) records without headers, as `send` queues each, at less than half its cost a record:
        a batch's state writes are thousands."""
        produce, report, limit = self.producer.produce, self._on_delivery, self.max_record_bytes
        to, produced = -1 if partition is None else partition, 0
        for key, value in records:
            if value is not None and len(key) + len(value) > limit:
                raise RecordTooLarge(topic, len(key) + len(value), limit)
            try:
                produce(topic, value, key, to, report)
                produced += 1
            except BufferError:
                self.send(topic, value, key=key, partition=partition)  # waits for room in the local queue
        self._queued(produced)

    def _queued(self, count: int) -> None:
        """Serve delivery reports now and then, as records are queued; flush() serves the rest."""
        self._unpolled += count
        if self._unpolled >= _POLL_EVERY:
            self.producer.poll(0)
            self._unpolled = 0

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until Kafka acknowledged every queued record; raise DeliveryFailed otherwise."""
        remaining = self.producer.flush(timeout)
        if remaining:
            raise DeliveryFailed(f"{remaining} records not acknowledged by Kafka within {timeout:.0f}s", remaining)
        if self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryFailed(f"Kafka refused {len(failures)} records, first: {failures[0]}", len(failures))

    def close(self) -> None:
        """Release the producer's connections and threads; what is still queued is sent first (see flush)."""
        self.producer.close()


class TransactionalPublisher(Publisher):
    """A Publisher whose records go out in Kafka transactions: read_committed consumers see all of a transaction's
    records or none. A new producer with the same `transactional_id` fences this one and aborts what it left open.
    """

    def __init__(self, kafka: KafkaConfig, transactional_id: str, timeout_s: float = 60.0) -> None:
        super().__init__(kafka, **{"transactional.id": transactional_id})
        self.timeout_s = timeout_s
        self.producer.init_transactions(timeout_s)

    def begin(self) -> None:
        """Start a transaction: what is sent until commit() belongs to it."""
        self.producer.begin_transaction()

    def commit(self) -> None:
        """Make the transaction's records visible; KafkaException otherwise, the transaction aborted when it can be
        (a fenced producer cannot: another took over its id)."""
        try:
            self.producer.commit_transaction(self.timeout_s)
        except KafkaException as exc:
            if exc.args[0].txn_requires_abort():
                self.producer.abort_transaction(self.timeout_s)
            raise
        finally:
            self._failures.clear()  # a transaction's failed record fails its commit: nothing is left to report
