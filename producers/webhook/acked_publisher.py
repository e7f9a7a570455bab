"""Publishing changes from asyncio code and awaiting Kafka's acknowledgement of each one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message

from producers.webhook.payloads import PayloadError
from seamline.config import KafkaConfig
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.serde import AvroSerde, SerdeError
from seamline.topics import ensure_topics, source_topic

STAGE = "source"
Record = tuple[str, bytes, bytes]


class KafkaUnavailable(RuntimeError):
    """Kafka (or the schema registry) did not take the changes in time; the sender should retry later."""


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():  # the request timed out and stopped waiting
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaUnavailable(f"Kafka refused a change: {error.str()}"))


class AckedPublisher:
    """The shared Publisher and AvroSerde behind an awaitable publish(); a thread serves delivery callbacks."""

    def __init__(self, kafka: KafkaConfig, source: str, metrics: Metrics, ack_timeout_s: float) -> None:
        self.kafka = kafka
        self.source = source
        self.metrics = metrics
        self.ack_timeout_s = ack_timeout_s
        # A record Kafka has not taken by the time the sender is told 503 is not kept queued for long; each
        # record's acknowledgement answers its request, so every record is reported, not only failures.
        self.publisher = Publisher(
            kafka,
            **{"message.timeout.ms": max(int(ack_timeout_s * 1000), 1000), "delivery.report.only.error": False},
        )
        self.serde = AvroSerde(kafka)
        self._topics: set[str] = set()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"{source}-delivery", daemon=True)

    def start(self) -> None:
        """Start serving delivery callbacks."""
        self._poller.start()

    def close(self) -> None:
        """Wait for what is queued (bounded by the ack timeout), stop the callback thread, release the producer.

        Records still queued after that were answered 503 already; their senders retry, so they are dropped.
        """
        self.publisher.producer.flush(self.ack_timeout_s)
        self._stopping.set()
        self._poller.join()
        self.publisher.producer.purge()
        self.publisher.close()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self.publisher.producer.poll(0.1)

    def _encode(self, changes: Sequence[Change]) -> list[Record]:
        """(topic, key, value) of each change; creates topics and registers schemas on first use (blocking)."""
        records = []
        for change in changes:
            topic = source_topic(self.kafka, change.system, change.object)
            if topic not in self._topics:
                ensure_topics(self.kafka, [topic])
                self._topics.add(topic)
            key = self.serde.encode(topic, {"columns": change.key}, key=True)
            records.append((topic, key, self.serde.encode(topic, change.envelope())))
        return records

    async def publish(self, changes: Sequence[Change]) -> None:
        """Return once Kafka acknowledged every change; raise KafkaUnavailable if it refused one or took too long.

        Raises PayloadError for a change its schema refuses.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout_s
        try:
            records = await asyncio.wait_for(loop.run_in_executor(None, self._encode, changes), self.ack_timeout_s)
            futures = []
            for topic, key, value in records:
                future: asyncio.Future[None] = loop.create_future()
                self.publisher.send(topic, value, key=key, on_delivery=self._resolver(loop, future))
                futures.append(future)
            outcomes = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), max(deadline - loop.time(), 0.05)
            )
        except TimeoutError as exc:
            self.metrics.publish_errors.labels(self.source).inc(len(changes))
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.ack_timeout_s:.0f}s") from exc
        except KafkaException as exc:
            self.metrics.publish_errors.labels(self.source).inc(len(changes))
            error = exc.args[0] if exc.args else exc
            reason = error.str() if isinstance(error, KafkaError) else str(error)
            raise KafkaUnavailable(f"Kafka is unavailable: {reason}") from exc
        except SerdeError as exc:  # its text may quote a value: keep it out of responses and logs
            self.metrics.publish_errors.labels(self.source).inc(len(changes))
            raise PayloadError("a change does not fit the change-event schema") from exc
        except Exception as exc:  # registry unreachable or refusing: transient for the sender
            self.metrics.publish_errors.labels(self.source).inc(len(changes))
            raise KafkaUnavailable(f"the schema registry is unavailable ({type(exc).__name__})") from exc
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            self.metrics.publish_errors.labels(self.source).inc(len(failed))
            raise KafkaUnavailable(f"{len(failed)} of {len(changes)} changes not acknowledged: {failed[0]}")
        for topic, _, _ in records:
            self.metrics.events_out.labels(STAGE, topic).inc()

    @staticmethod
    def _resolver(
        loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]
    ) -> Callable[[KafkaError | None, Message], None]:
        def resolve(error: KafkaError | None, _message: Message) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, future, error)

        return resolve
