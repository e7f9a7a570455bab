"""The canonical topics of a test's topic prefix, read to their end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic


class Canonical:
    """The final record of every live key ('entity/id'), and every version seen, of some entities' topics."""

    def __init__(self, kafka: KafkaConfig, entities: Sequence[str]) -> None:
        self.kafka = kafka
        self.entities = entities
        self.serde = AvroSerde(kafka)

    def read(self) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """(live records, history of versions) by 'entity/id'."""
        live: dict[str, dict[str, Any]] = {}
        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entity in self.entities:
            topic = canonical_topic(self.kafka, entity)
            for message in read_to_end(self.kafka, topic):
                key = f"{entity}/{self.serde.decode(topic, message.key(), key=True)}"
                value = self.serde.decode(topic, message.value())
                if value is None:
                    live.pop(key, None)
                else:
                    live[key] = value
                    history[key].append(value)
        return live, history
