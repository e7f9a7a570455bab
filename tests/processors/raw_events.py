"""Raw change events published straight to src.<system>.<object>, as the producer runner would publish them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from seamline.config import KafkaConfig
from seamline.events import Change
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topics import ensure_topics, source_topic


@dataclass(frozen=True)
class RawChange:
    """One change of a source row; `row` None is a delete. `tick` orders a record's changes (its position)."""

    source: str
    key: str
    row: dict[str, Any] | None
    tick: int
    ts_ms: int


def publish(kafka: KafkaConfig, changes: Iterable[RawChange], key_column: str = "id") -> int:
    """Publish the changes (values as text, like an untyped source) and wait for Kafka's acks; the count sent."""
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    created: set[str] = set()
    sent = 0
    try:
        for change in changes:
            system, obj = change.source.split(".", 1)
            topic = source_topic(kafka, system, obj)
            if topic not in created:
                ensure_topics(kafka, [topic])
                created.add(topic)
            row = None if change.row is None else {name: _text(value) for name, value in change.row.items()}
            event = Change(
                system=system,
                object=obj,
                connector="postgres_cdc",
                op="d" if row is None else "u",
                key={key_column: change.key},
                before=None,
                after=row,
                position=f"0/{change.tick:X}:0",
                source_ts_ms=change.ts_ms,
            )
            publisher.send(
                topic,
                serde.encode(topic, event.envelope()),
                key=serde.encode(topic, {"columns": event.key}, key=True),
            )
            sent += 1
        publisher.flush()
    finally:
        publisher.close()
    return sent


def _text(value: Any) -> str | None:
    """An untyped source's text form of a value; nested records travel as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
