"""Data-quality records, `dq.<entity>`: a field whose value could not be normalised, in a record that went on all the
same. The cleanse stage writes them (`DataQuality`), `seamline dq list` reads them (`issues`). They say which
field of which record and why, never the value (the record itself is on the canonical topic, without it or with
it as written).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from confluent_kafka.admin import AdminClient

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import dq_topic


class DataQualityError(Exception):
    """A data-quality command that cannot be carried out; the message says what to do."""


@dataclass(frozen=True)
class FieldIssue:
    """A field a record went on without (`dropped`) or with as written (`kept`), and why; `message` describes the
    value by its shape only."""

    field: str
    reason: str
    action: Literal["dropped", "kept"]
    message: str


class Origin(Protocol):
    """The record a field belongs to, as a cleansed change names it."""

    @property
    def entity(self) -> str: ...
    @property
    def system(self) -> str: ...
    @property
    def object(self) -> str: ...
    @property
    def source_key(self) -> str: ...
    @property
    def event_id(self) -> str: ...


class DataQuality:
    """Writes the field issues of cleansed records to `dq.<entity>` through the caller's publisher, and counts them
    (`seamline_field_invalid_total`); the caller flushes the publisher before committing its input."""

    def __init__(self, kafka: KafkaConfig, serde: AvroSerde, publisher: Publisher, metrics: Metrics) -> None:
        self._kafka = kafka
        self._serde = serde
        self._publisher = publisher
        self._metrics = metrics

    def send(self, record: Origin, key: Mapping[str, str], issues: Sequence[FieldIssue]) -> None:
        """Queue one data-quality record per issue of `record`, keyed by its source key `key` (its columns)."""
        topic = dq_topic(self._kafka, record.entity)
        encoded_key = self._serde.encode(topic, {"columns": dict(key)}, key=True)
        now_ms = int(time.time() * 1000)
        for issue in issues:
            self._metrics.field_invalid.labels(record.entity, issue.field, issue.reason).inc()
            value = {
                "entity": record.entity,
                "system": record.system,
                "object": record.object,
                "source_key": record.source_key,
                "field": issue.field,
                "reason": issue.reason,
                "action": issue.action,
                "message": issue.message,
                "event_id": record.event_id,
                "time": now_ms,
            }
            self._publisher.send(topic, self._serde.encode(topic, value), key=encoded_key)


def entities(kafka: KafkaConfig) -> list[str]:
    """The entities that have a data-quality topic."""
    prefix = dq_topic(kafka, "")
    topics = AdminClient(client_settings(kafka, "admin")).list_topics(timeout=15).topics
    return sorted(topic.removeprefix(prefix) for topic in topics if topic.startswith(prefix))


def issues(kafka: KafkaConfig, entity: str | None = None) -> Iterator[dict[str, Any]]:
    """The data-quality records of one entity, or of all, entity by entity, in offset order per partition."""
    known = entities(kafka)
    if entity is not None and entity not in known:
        raise DataQualityError(
            f"no data-quality topic for entity {entity!r}; entities with one: {', '.join(known) or 'none'}"
        )
    serde = AvroSerde(kafka)
    for name in [entity] if entity else known:
        topic = dq_topic(kafka, name)
        for message in read_to_end(kafka, topic):
            yield serde.decode(topic, message.value())
