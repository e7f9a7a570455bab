"""Dead letters for notify's tests: one from the real cleanse stage, and many written as any stage writes them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, TopicPartition

from notify.runner import NotifyRunner
from processors.batch import CleanseBatch
from seamline.config import KafkaConfig, load_config
from seamline.dead_letters.writer import DeadLetters, Failed, dlq_headers
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.processor_config import ProcessorConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.topic_reader import end_offset, read_to_end, record_position
from seamline.topics import dlq_topic, ensure_topics, identity_topic, source_topic
from tests.processors.raw_events import RawChange, publish

MAPPING = {
    "source": "erp.customers",
    "entity": "customer",
    "fields": {"name": "name", "email": "email", "phone": "phone"},
}
PERSONAL = {"email": "maria.rossi@example.com", "phone": "+39 06 1234 5678"}
"""The values of the record that fails for want of a name: no notification may carry them."""


@dataclass
class _Raw:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def cleanse_letter(kafka: KafkaConfig) -> None:
    """Customer 42 without its required name, through the real cleanse stage: one letter in dlq.cleanse."""
    publish(
        kafka, [RawChange("erp.customers", "42", {"name": None, **PERSONAL}, tick=1, ts_ms=int(time.time() * 1000))]
    )
    (message,) = read_to_end(kafka, source_topic(kafka, "erp", "customers"))
    ensure_topics(kafka, [dlq_topic(kafka, "cleanse"), identity_topic(kafka)])
    publisher = Publisher(kafka)
    processor = ProcessorConfig.model_validate({"mappings": [MAPPING]})
    batch = CleanseBatch(kafka, processor, AvroSerde(kafka), publisher, Metrics.create())
    asyncio.run(batch.process([_Raw(*record_position(message), message.key(), message.value())]))
    publisher.close()


def write_letters(
    kafka: KafkaConfig, stage: str, count: int, reason: str = "email: not an address (text(9))", first: int = 0
) -> None:
    """`count` letters of distinct records in dlq.<stage>, as a stage writes them: records `first`, `first` + 1, ...
    (each its own event id and original offset)."""
    publisher = Publisher(kafka)
    letters = DeadLetters(kafka, publisher, stage, Metrics.create())
    ensure_topics(kafka, [letters.topic])
    original = source_topic(kafka, "erp", "customers")
    for n in range(first, first + count):
        letters.send(Failed(original, n % 3, n, None, b"value", "InvalidRecord", reason, event_id=f"{stage}-{n}"))
    publisher.flush()
    publisher.close()


def write_quality_record(kafka: KafkaConfig, entity: str, reason: str) -> None:
    """A data-quality record in dq.<entity>, headed like a dead letter (its value is not read)."""
    topic = f"{kafka.topic_prefix}dq.{entity}"
    ensure_topics(kafka, [topic])
    publisher = Publisher(kafka)
    failed = Failed(source_topic(kafka, "erp", "customers"), 0, 7, None, b"value", "QualityWarning", reason)
    publisher.send(topic, b"value", headers=dlq_headers(f"dq.{entity}", failed))
    publisher.flush()
    publisher.close()


def committed(kafka: KafkaConfig, group: str, topics: list[str]) -> int:
    """The group's committed offsets over the topics' partitions, added up."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        wanted = [TopicPartition(topic, partition) for topic in topics for partition in range(kafka.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(wanted, timeout=10))
    finally:
        consumer.close()


def all_committed(kafka: KafkaConfig, group: str, topics: list[str]) -> bool:
    """True once the group has committed every record of the topics."""
    return committed(kafka, group, topics) == sum(end_offset(kafka, topic) for topic in topics)


def write_config(path: Path, kafka: KafkaConfig, channels: dict[str, Any], **route: Any) -> Path:
    """A configuration with the cleanse mapping and a notify section of one route over `channels`."""
    notify = {
        "metrics_port": free_port(),
        "retry_wait_max_s": 0.5,
        "channels": channels,
        "routes": [{"name": "integration", "channels": list(channels), **route}],
    }
    processor = {
        "mappings": [MAPPING],
        "app_id": f"{kafka.topic_prefix}processor",
        "data_dir": str(path.parent / "state"),
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": processor, "notify": notify}))
    return path


@contextmanager
def notifying(config: Path, metrics: Metrics) -> Iterator[NotifyRunner]:
    """`seamline notify`'s runner on the configuration, in a thread; stopped (and its failure raised) after."""
    runner = NotifyRunner(load_config(config), metrics)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(stop_on_signals=False)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, name="notify", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(30)
        assert not thread.is_alive(), "the notify runner did not stop"
    if failures:
        raise failures[0]
