"""One batch of each processor stage, with per-record errors sent to the stage's DLQ.

- cleanse: raw change events -> cleansed changes on the identity topic (`dlq.cleanse` for bad records).
- resolve: cleansed changes -> golden state -> canonical records and merge suggestions (`dlq.resolve`); a
  record changed several times in one batch is published once, at its newest version. Stewards' decisions
  (`seamline.decisions`) new since the last batch are applied first, at most once a second and always in the first
  batch after the state is opened; the offset applied is part of the state, so each takes effect once.

Delivery: a cleanse batch's frames and dead letters are flushed to Kafka before the batch is acknowledged
(at-least-once). A resolve batch's canonical records, suggestions, dead letters and state writes go out in one
Kafka transaction before it is acknowledged (processors/checkpoint.py): all of them or none, so the state never
runs ahead of the canonical topics, nor they ahead of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from processors.canonical import avro_record
from processors.checkpoint import Checkpoint
from processors.cleanse import Cleansed, InvalidRecord, cleanse, encoded_changes, encoded_event_id
from processors.constraints import Constraints
from processors.decision_feed import DecisionFeed, DecisionRecord
from processors.decisions import apply_decision
from processors.field_policy import field_policy
from processors.framing import frames
from processors.resolve import Output, Resolver
from processors.staged import TABLES, Cache, StagedState
from seamline.config import KafkaConfig
from seamline.data_quality import DataQuality
from seamline.dead_letters.writer import EVENT_ID_HEADER, DeadLetters, Failed
from seamline.decisions import Decision
from seamline.metrics import Metrics
from seamline.pii import FieldCipher
from seamline.processor_config import ProcessorConfig
from seamline.publisher import Publisher, RecordTooLarge
from seamline.retry import is_transient
from seamline.serde import AvroSerde
from seamline.topics import canonical_topic, identity_topic, suggestions_topic

log = logging.getLogger(__name__)

DECISIONS_CHECK_S = 1.0
"""How often the resolve stage looks for new stewards' decisions (in a batch, or on the timer when idle)."""


class RawRecord(Protocol):
    """What a batch needs of a consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _Stage:
    """What both stages share: the publisher, the DLQ and metrics."""

    name: str
    publisher: Publisher
    dead_letters: DeadLetters

    def __init__(self, kafka: KafkaConfig, serde: AvroSerde, metrics: Metrics) -> None:
        self.kafka = kafka
        self.serde = serde
        self.metrics = metrics

    def _publish_through(self, publisher: Publisher) -> None:
        """Send the stage's records and dead letters through `publisher` from now on."""
        self.publisher = publisher
        self.dead_letters = DeadLetters(self.kafka, publisher, self.name, self.metrics)

    def _dead_letter(
        self, record: RawRecord, exc: Exception, value: bytes | None = None, event_id: str | None = None
    ) -> None:
        """Send `record` (or `value`, the one item of it that failed) to the stage's DLQ with the reason."""
        if is_transient(exc):
            raise exc
        self.dead_letters.send(
            Failed(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value if value is None else value,
                error_class=type(exc).__name__,
                reason=str(exc),
                event_id=event_id,
            )
        )


class CleanseBatch(_Stage):
    """Maps and normalises raw changes; a record that fails a rule becomes a dead letter with its reason, a field
    its mapping lets it go on without (or with as written) a record on `dq.<entity>`, flushed with the batch."""

    name = "cleanse"

    def __init__(
        self, kafka: KafkaConfig, processor: ProcessorConfig, serde: AvroSerde, publisher: Publisher, metrics: Metrics
    ) -> None:
        super().__init__(kafka, serde, metrics)
        self._publish_through(publisher)
        self.quality = DataQuality(kafka, serde, publisher, metrics)
        self.mappings = {mapping.source: mapping for mapping in processor.mappings}
        self.policies = {m.source: field_policy(m, processor.rules(m.entity)) for m in processor.mappings}
        self.lookups = processor.lookups
        self.output = identity_topic(kafka)
        self._out = metrics.events_out.labels(self.name, self.output)

    async def process(self, records: Sequence[RawRecord]) -> None:
        """Cleanse a batch and publish it to the identity topic in frames, flushed before returning."""
        started = time.perf_counter()
        cleansed: list[bytes] = []
        for record in records:
            try:
                change = self.cleanse(record)
                cleansed.append(self._sized(change.encode()))
            except Exception as exc:
                self._dead_letter(record, exc, event_id=self._event_id(record))
                continue
            if change.issues:
                key = self.serde.decode(record.topic, record.key, key=True)["columns"]
                self.quality.send(change, key, change.issues)
        for frame in frames(cleansed):
            self.publisher.send(self.output, frame)
        await asyncio.get_running_loop().run_in_executor(None, self.publisher.flush)
        for topic, count in Counter(record.topic for record in records).items():
            self.metrics.events_in.labels(self.name, topic).inc(count)
        self._out.inc(len(cleansed))
        self.metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)

    def _sized(self, change: bytes) -> bytes:
        """The encoded change, or InvalidRecord when it is over a quarter of kafka.max_record_bytes: the resolve
        state keeps a change's fields with its golden record, which publishes them again, with other members'."""
        limit = self.kafka.max_record_bytes // 4
        if len(change) > limit:
            raise InvalidRecord(
                f"the cleansed change is {len(change):,} bytes, over a quarter of kafka.max_record_bytes "
                f"({limit:,}), the most one change may hold: keep such values out of the mapped fields, or raise "
                "max_record_bytes"
            )
        return change

    def _event_id(self, record: RawRecord) -> str | None:
        """The event_id of a raw change that failed, if it can be read at all."""
        try:
            return str(self.serde.decode(record.topic, record.value)["event_id"])
        except Exception:
            return None

    def cleanse(self, record: RawRecord) -> Cleansed:
        """One raw record in canonical terms, or InvalidRecord saying why not."""
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
        return cleanse(event, key["columns"], mapping, self.lookups, self.policies[mapping.source])


@dataclass(frozen=True)
class _Pending:
    """An output of a resolve batch, with the change and the identity-topic record that made it."""

    output: Output
    event_id: str
    record: RawRecord
    item: bytes


def _newest(pending: list[_Pending]) -> list[_Pending]:
    """The batch's outputs without the canonical versions a later version of the same record in the batch
    supersedes: a record changed ten times in one batch is published once, at its newest version (its version
    numbers still count every change). A version before a tombstone (a merged or deleted record's final one) is
    kept; suggestions are kept whole."""
    kept: list[_Pending] = []
    newer: set[tuple[str, str]] = set()  # records with a newer version later in the batch, and no tombstone between
    for each in reversed(pending):
        output = each.output
        if not output.topic.startswith("canonical."):
            kept.append(each)
        elif output.value is None:
            newer.discard((output.topic, output.key))
            kept.append(each)
        elif (output.topic, output.key) not in newer:
            newer.add((output.topic, output.key))
            kept.append(each)
    kept.reverse()
    return kept


class ResolveBatch(_Stage):
    """Resolves cleansed changes to golden records and publishes the versions that changed."""

    name = "resolve"

    def __init__(
        self,
        kafka: KafkaConfig,
        processor: ProcessorConfig,
        serde: AvroSerde,
        metrics: Metrics,
        cipher: FieldCipher,
        checkpoint: Checkpoint,
    ) -> None:
        super().__init__(kafka, serde, metrics)  # publishes through the checkpoint's transactions
        self.processor = processor
        self.cipher = cipher
        self.checkpoint = checkpoint
        self.input = identity_topic(kafka)
        self.caches = [Cache(processor.state_cache_entries) for _ in TABLES]
        self.decisions = DecisionFeed(kafka)
        self.lock = asyncio.Lock()
        """Held by each batch: the timer's batches (`steer`) and the agent's never interleave."""
        self._checked = 0.0  # when decisions were last looked for; 0: in the next batch

    def forget(self) -> None:
        """Drop the state in hand (cache, store, producer): another worker may change it once it is reassigned."""
        for cache in self.caches:
            cache.clear()
        self.checkpoint.close()
        self.decisions.close()
        self._checked = 0.0

    async def process(self, records: Sequence[RawRecord]) -> None:
        """Resolve a batch against the state; publish its records, then commit it (processors/checkpoint.py)."""
        async with self.lock:
            await self._process(records)

    async def steer(self) -> None:
        """Apply the stewards' decisions no batch has applied in the last second, in a batch of no changes."""
        async with self.lock:
            if time.monotonic() - self._checked >= DECISIONS_CHECK_S:
                await self._process([])

    async def _process(self, records: Sequence[RawRecord]) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(None, self.checkpoint.open)
        state = StagedState(store, self.caches)
        decisions = await self._new_decisions(state)
        if not records and not decisions:
            return
        self._publish_through(self.checkpoint.begin())
        resolver = Resolver(self.processor, state.tables)
        published, merges = Counter[str](), Counter[str]()
        pending = self._decide(resolver, decisions)
        changes, decoded = self._decoded(records)
        state.prefetch(resolver.reads([change for _, _, change in decoded]))
        for record, item, change in decoded:
            try:
                outputs = resolver.apply(change)
            except Exception as exc:
                self._dead_letter(record, exc, item, change.event_id)
                continue
            pending += [_Pending(output, change.event_id, record, item) for output in outputs]
        for each in _newest(pending):
            try:
                self._publish(each.output, each.event_id, published, merges)
            except RecordTooLarge as exc:
                self._dead_letter(each.record, exc, each.item, each.event_id)
        # On the event loop's thread, which waits only for the commit's round trip (~20 ms a batch): in an executor
        # thread the commit's encoding fought the loop for the GIL, costing 30-50 µs of CPU per event
        self.checkpoint.commit(state.writes())
        state.settle()
        self.metrics.events_in.labels(self.name, self.input).inc(changes)
        for topic, count in published.items():
            self.metrics.events_out.labels(self.name, topic).inc(count)
        for entity, count in merges.items():
            self.metrics.merges.labels(entity).inc(count)
        self.metrics.held_records.set(resolver.held_count())
        self.metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)

    async def _new_decisions(self, state: StagedState) -> list[DecisionRecord]:
        """The decisions past the state's decisions offset, if a second has passed since the last look."""
        if time.monotonic() - self._checked < DECISIONS_CHECK_S:
            return []
        start = Constraints(state.tables.index).position
        found = await asyncio.get_running_loop().run_in_executor(None, self.decisions.read, start)
        self._checked = time.monotonic()
        return found

    def _decide(self, resolver: Resolver, records: list[DecisionRecord]) -> list[_Pending]:
        """Apply decisions in offset order (one that cannot be applied goes to the DLQ); their outputs."""
        pending: list[_Pending] = []
        constraints = resolver.constraints
        for record in records:
            event_id = f"decision:{record.offset}"
            try:
                value = self.serde.decode(record.topic, record.value)
                if value is None:
                    raise InvalidRecord("the decisions topic holds no tombstones: the value is empty")
                decision = Decision.from_value(value)
                outputs = apply_decision(resolver, record.offset, decision)
            except Exception as exc:
                self._dead_letter(record, exc, event_id=event_id)
            else:
                log.info("%s decision %s (offset %d) applied", decision.kind, decision.key, record.offset)
                pending += [_Pending(output, event_id, record, record.value or b"") for output in outputs]
            constraints.advance(record.offset)
        return pending

    def _decoded(self, records: Sequence[RawRecord]) -> tuple[int, list[tuple[RawRecord, bytes, Cleansed]]]:
        """How many changes the records hold, and those that decode, each with its record and bytes; a record or
        change that is not one the cleanse stage wrote goes to the DLQ."""
        count, decoded = 0, []
        for record in records:
            if record.value is None:
                self._dead_letter(record, InvalidRecord("the identity topic holds no tombstones: the value is empty"))
                continue
            try:
                items = encoded_changes(record.value)
            except InvalidRecord as exc:
                self._dead_letter(record, exc)
                continue
            count += len(items)
            for item in items:
                try:
                    decoded.append((record, item, Cleansed.decode(item)))
                except Exception as exc:
                    self._dead_letter(record, exc, item, encoded_event_id(item))
        return count, decoded

    def _publish(self, output: Output, event_id: str, published: Counter[str], merges: Counter[str]) -> None:
        """Send one output; count it (metrics are set once per batch)."""
        bare, _, entity = output.topic.partition(".")
        if bare == "canonical":
            topic = canonical_topic(self.kafka, entity)
            value = None if output.value is None else self.cipher.seal(entity, avro_record(entity, output.value))
            if value is not None and value["merged_into"] is not None:
                merges[entity] += 1
        else:
            topic, value = suggestions_topic(self.kafka), output.value
        key = self.serde.encode(topic, output.key, key=True)
        encoded = None if value is None else self.serde.encode(topic, value)
        self.publisher.send(topic, encoded, key=key, headers=[(EVENT_ID_HEADER, event_id.encode())])
        published[topic] += 1
