"""The keys a source has published as live, rebuilt from its own topic, compared with the keys a table has now.

Memory: one Python str per live key in a set: about 49 bytes + the key's length for the string and
about 34 bytes of set slot, so about 90 bytes for an 8-character key (a million keys: about 90 MB).
A comparison adds a second set of the same strings, about 34 bytes per key, while it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 600.0


class LiveKeys:
    """The set of keys whose newest published change is not a delete."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def published(self, key: str, deleted: bool) -> None:
        """Record a change published for key."""
        if deleted:
            self.keys.discard(key)
        else:
            self.keys.add(key)

    def rebuild(self, kafka: KafkaConfig, topic: str, key_column: str) -> None:
        """Replay the source's topic from its beginning: the newest change per key decides."""
        serde = AvroSerde(kafka)
        self.keys.clear()
        count = 0
        for message in read_to_end(kafka, topic, timeout_s=READ_TIMEOUT_S):
            key = serde.decode(topic, message.key(), key=True)["columns"].get(key_column)
            value = serde.decode(topic, message.value())
            if key is not None and value is not None:
                self.published(key, value["op"] == "d")
                count += 1
        log.info("rebuilt %d live keys of %s from %d changes", len(self.keys), topic, count)

    def vanished(self, table_keys: Iterable[str]) -> list[str]:
        """The live keys missing from table_keys (streamed), in text order."""
        missing = set(self.keys)
        for key in table_keys:
            missing.discard(key)
        return sorted(missing)
