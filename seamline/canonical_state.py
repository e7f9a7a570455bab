"""The canonical state as the canonical topics hold it: the live golden records of an entity."""

from __future__ import annotations

from typing import Any

from seamline.config import KafkaConfig
from seamline.pii import FieldCipher
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic


def canonical_live(kafka: KafkaConfig, entity: str, cipher: FieldCipher) -> list[dict[str, Any]]:
    """The highest version of every live (not deleted) canonical record of `entity`, as the sinks' version guard
    keeps it, its personal fields opened; a tombstone ends a record, and a version after it begins a new one."""
    topic, serde = canonical_topic(kafka, entity), AvroSerde(kafka)
    newest: dict[str, dict[str, Any] | None] = {}
    for message in read_to_end(kafka, topic, timeout_s=600):
        key, value = serde.decode(topic, message.key(), key=True), serde.decode(topic, message.value())
        held = newest.get(key)
        if value is None or held is None or value["version"] >= held["version"]:
            newest[key] = value
    return [cipher.open(entity, value) for value in newest.values() if value is not None and not value["deleted"]]
