"""One batch of raw changes through cleanse → resolve → merge, with per-record errors sent to the DLQ.

Delivery: at-least-once. Canonical records and dead letters are flushed to Kafka before the golden
table is updated and before the batch is acknowledged, so the table never runs ahead of the output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from processors.cleanse import Cleansed, InvalidRecord, cleanse
from processors.identity import golden_id
from processors.mapping import Lookups
from processors.merge import State, merge
from seamline.config import KafkaConfig
from seamline.dlq import DeadLetters, Failed
from seamline.metrics import Metrics
from seamline.processor_config import EntityMapping
from seamline.publisher import Publisher
from seamline.retry import is_transient
from seamline.serde import AvroSerde
from seamline.topics import canonical_topic

STAGE = "cleanse"


class RawRecord(Protocol):
    """What the batch needs of a consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class GoldenTable(Protocol):
    """The golden-record store, keyed by golden id."""

    def get(self, key: str) -> State | None: ...

    def __setitem__(self, key: str, value: State) -> None: ...


class BatchProcessor:
    """Turns raw change records into canonical versions; bad records become dead letters with their reason."""

    def __init__(
        self,
        kafka: KafkaConfig,
        mappings: Sequence[EntityMapping],
        serde: AvroSerde,
        publisher: Publisher,
        metrics: Metrics,
        lookups: Lookups | None = None,
    ) -> None:
        self.kafka = kafka
        self.mappings = {mapping.source: mapping for mapping in mappings}
        self.lookups = lookups or {}
        self.serde = serde
        self.publisher = publisher
        self.metrics = metrics
        self.dead_letters = DeadLetters(kafka, publisher, STAGE, metrics)

    async def process(
        self,
        records: Sequence[RawRecord],
        table: GoldenTable,
        in_context: Callable[[int], Any],
    ) -> None:
        """Process a batch. `in_context(i)` makes record i the current one while the table is read or written."""
        started = time.perf_counter()
        changed: dict[str, tuple[int, State]] = {}
        for index, record in enumerate(records):
            self.metrics.events_in.labels(STAGE, record.topic).inc()
            try:
                change = self._cleanse(record)
                gid = golden_id(change.system, change.object, change.source_key)
                if gid in changed:
                    state: State | None = changed[gid][1]
                else:
                    in_context(index)
                    state = table.get(gid)
                merged = merge(state, change)
                if merged.state is not None and merged.state is not state:
                    changed[gid] = (index, merged.state)
                if merged.record is not None:
                    self._publish(change, merged.record, merged.tombstone)
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._dead_letter(record, exc)
        await asyncio.get_running_loop().run_in_executor(None, self.publisher.flush)
        for gid, (index, state) in changed.items():
            in_context(index)
            table[gid] = state
        self.metrics.batch_seconds.labels(STAGE).observe(time.perf_counter() - started)

    def _cleanse(self, record: RawRecord) -> Cleansed:
        event = self.serde.decode(record.topic, record.value)
        if event is None:
            raise InvalidRecord("a raw change topic holds no tombstones: the value is empty")
        key = self.serde.decode(record.topic, record.key, key=True)
        source = event["source"]
        mapping = self.mappings.get(f"{source['system']}.{source['object']}")
        if mapping is None:
            raise InvalidRecord(
                f"no processor mapping for {source['system']}.{source['object']}: add one under processor.mappings"
            )
        return cleanse(event, key["columns"], mapping, self.lookups)

    def _publish(self, change: Cleansed, record: Mapping[str, Any], tombstone: bool) -> None:
        topic = canonical_topic(self.kafka, change.entity)
        key = self.serde.encode(topic, record["id"], key=True)
        self.publisher.send(topic, self.serde.encode(topic, record), key=key)
        if tombstone:
            self.publisher.send(topic, None, key=key)
        self.metrics.events_out.labels(STAGE, topic).inc()

    def _dead_letter(self, record: RawRecord, exc: Exception) -> None:
        self.dead_letters.send(
            Failed(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                error_class=type(exc).__name__,
                reason=str(exc),
            )
        )
