"""Source positions in the compacted topic seamline.offsets, so a producer needs no other store."""

from __future__ import annotations

import time
from dataclasses import dataclass

from seamline.config import KafkaConfig
from seamline.connectors.source import Checkpoint
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import offsets_topic


@dataclass(frozen=True)
class StoredPosition:
    """A source's checkpoint and when it was stored (ms since the epoch)."""

    checkpoint: Checkpoint
    stored_at_ms: int


class PositionStore:
    """Reads the last stored checkpoint of a source and stores new ones."""

    def __init__(self, kafka: KafkaConfig, serde: AvroSerde, publisher: Publisher) -> None:
        self._kafka = kafka
        self._serde = serde
        self._publisher = publisher
        self.topic = offsets_topic(kafka)

    def load(self, source: str) -> Checkpoint | None:
        """The newest checkpoint stored for `source`."""
        stored = self.newest().get(source)
        return None if stored is None else stored.checkpoint

    def newest(self) -> dict[str, StoredPosition]:
        """The newest checkpoint of every source, with when it was stored."""
        found: dict[str, StoredPosition] = {}
        for message in read_to_end(self._kafka, self.topic):
            source = self._serde.decode(self.topic, message.key(), key=True)
            value = self._serde.decode(self.topic, message.value())
            if value is None:
                found.pop(source, None)
            else:
                checkpoint = Checkpoint(value["position"], value["snapshot_done"], value.get("state"))
                found[source] = StoredPosition(checkpoint, value["ts_ms"])
        return found

    def save(self, source: str, checkpoint: Checkpoint) -> None:
        """Queue the checkpoint; it is durable once the publisher is flushed."""
        record = {
            "source": source,
            "position": checkpoint.position,
            "snapshot_done": checkpoint.snapshot_done,
            "ts_ms": int(time.time() * 1000),
            "state": checkpoint.state,
        }
        self._publisher.send(
            self.topic, self._serde.encode(self.topic, record), key=self._serde.encode(self.topic, source, key=True)
        )

    def forget(self, source: str) -> None:
        """Queue a tombstone for the source's position: its next start begins afresh (a new snapshot)."""
        self._publisher.send(self.topic, None, key=self._serde.encode(self.topic, source, key=True))
