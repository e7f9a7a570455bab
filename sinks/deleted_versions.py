"""What a sink deleted, remembered in Kafka, so that an older version delivered again is not written again.

A target that keeps no trace of a deleted record (a REST API, Salesforce) cannot tell an old version from a
new record: a redelivery or a replay that brings version 2 after the delete of version 3 would create the
record again. The runner of such a sink keeps, per entity and golden id, the highest version it deleted in
the compacted topic seamline.sink.<name>.deleted; before a batch is written, a version at or below it (and
a tombstone of a deleted record) is left out as unchanged. A newer version after a delete is a new record
and goes through. The entries are flushed before the batch's offsets are committed, like dead letters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, SinkRecord
from seamline.publisher import Publisher
from seamline.topic_reader import read_to_end
from seamline.topics import deleted_versions_topic

Key = tuple[str, str]


class DeletedVersions:
    """The highest deleted version per (entity, golden id) of one sink."""

    def __init__(self, kafka: KafkaConfig, sink: str, publisher: Publisher) -> None:
        self.kafka = kafka
        self.topic = deleted_versions_topic(kafka, sink)
        self._publisher = publisher
        self._deleted: dict[Key, int] = {}

    def load(self) -> None:
        """Read what every instance of the sink deleted so far (at start, and when partitions are assigned)."""
        for message in read_to_end(self.kafka, self.topic):
            entity, _, gid = (message.key() or b"").decode().partition(":")
            version = int(message.value() or b"0")
            self._deleted[entity, gid] = max(version, self._deleted.get((entity, gid), version))

    def write_through(self, records: Sequence[SinkRecord], write: Callable[[list[SinkRecord]], Outcome]) -> Outcome:
        """Write the records no delete superseded with `write`, count the others as unchanged, and note the
        deleted versions written (queued on the runner's publisher, flushed by it before its commit)."""
        kept, stale = self._split(records)
        outcome = write(kept) if kept else Outcome()
        outcome.unchanged += stale
        self._remember(kept, outcome)
        return outcome

    def _split(self, records: Iterable[SinkRecord]) -> tuple[list[SinkRecord], list[SinkRecord]]:
        """The records to write, and the ones a delete already superseded."""
        kept: list[SinkRecord] = []
        stale: list[SinkRecord] = []
        for record in records:
            deleted = self._deleted.get((record.entity, record.id))
            superseded = deleted is not None and (record.value is None or record.value["version"] <= deleted)
            (stale if superseded else kept).append(record)
        return kept, stale

    def _remember(self, written: Sequence[SinkRecord], outcome: Outcome) -> None:
        refused = {id(item.record) for item in outcome.rejected}
        for record in written:
            if record.value is None or not record.value["deleted"] or id(record) in refused:
                continue
            key, version = (record.entity, record.id), int(record.value["version"])
            if version > self._deleted.get(key, -1):
                self._deleted[key] = version
                self._publisher.send(self.topic, str(version).encode(), key=f"{record.entity}:{record.id}".encode())
