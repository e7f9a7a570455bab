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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from processors.canonical import avro_record
from processors.checkpoint import Checkpoint
from processors.cleanse import Cleansed, InvalidRecord, cleanse, encoded_changes, encoded_event_id
from processors.constraints import Constraints
from processors.decision_feed import DecisionFeed
from processors.decisions import apply_decision
from processors.field_policy import field_policy
from processors.framing import frames
from processors.reference_keys import KEYS_POSITION, KeysCopy
from processors.resolve import Output, Resolver
from processors.routing import Routing, referenced_prefixes
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
from seamline.topic_reader import ReadRecord
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
        self.routing = Routing(processor, processor.resolve_partitions)
        self.output = identity_topic(kafka)
        self._out = metrics.events_out.labels(self.name, self.output)

    async def process(self, records: Sequence[RawRecord]) -> None:
        """Cleanse a batch and publish it to the identity topic in frames, flushed before returning."""
        started = time.perf_counter()
        cleansed: dict[int, list[bytes]] = {}  # identity partition -> its changes, in order
        count = 0
        for record in records:
            try:
                change = self.cleanse(record)
                encoded = self._sized(change.encode())
            except Exception as exc:
                self._dead_letter(record, exc, event_id=self._event_id(record))
                continue
            for partition in self.routing.partitions(change):
                cleansed.setdefault(partition, []).append(encoded)
            count += 1
            if change.issues:
                key = self.serde.decode(record.topic, record.key, key=True)["columns"]
                self.quality.send(change, key, change.issues)
        for partition, changes in sorted(cleansed.items()):
            for frame in frames(changes):
                self.publisher.send(self.output, frame, partition=partition)
        await asyncio.get_running_loop().run_in_executor(None, self.publisher.flush)
        for topic, records_in in Counter(record.topic for record in records).items():
            self.metrics.events_in.labels(self.name, topic).inc(records_in)
        self._out.inc(count)
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


class _Owned:
    """What this worker holds of one identity partition while it owns it: its checkpoint and its caches."""

    def __init__(self, checkpoint: Checkpoint, cache_entries: int) -> None:
        self.checkpoint = checkpoint
        self.caches = [Cache(cache_entries) for _ in TABLES]
        self.checked = 0.0
        """When decisions were last looked for; 0: in the next batch."""
        self.held = 0


class ResolveBatch(_Stage):
    """Resolves cleansed changes to golden records and publishes the versions that changed; each identity partition
    of the batch against its own state, in its own transaction."""

    name = "resolve"

    def __init__(
        self, kafka: KafkaConfig, processor: ProcessorConfig, serde: AvroSerde, metrics: Metrics, cipher: FieldCipher
    ) -> None:
        super().__init__(kafka, serde, metrics)  # publishes through the checkpoints' transactions
        self.processor = processor
        self.cipher = cipher
        self.input = identity_topic(kafka)
        self.routing = Routing(processor, processor.resolve_partitions)
        self.referenced = referenced_prefixes(processor)
        self.keys = KeysCopy(kafka, processor.app_id, processor.data_dir) if processor.resolve_partitions > 1 else None
        """The referenced keys of every partition, when there are several (processors/reference_keys.py)."""
        self.decisions = DecisionFeed(kafka)
        self.owned: dict[int, _Owned] = {}
        self.lock = asyncio.Lock()
        """Held by each batch: the timer's batches (`steer`) and the agent's never interleave."""

    def forget(self) -> None:
        """Drop the state in hand (caches, stores, producers): another worker may change it once it is reassigned;
        close the copy of the referenced keys (it opens again where it was)."""
        for owned in self.owned.values():
            owned.checkpoint.close()
        self.owned.clear()
        self.decisions.close()
        if self.keys is not None:
            self.keys.close()

    async def process(self, records: Sequence[RawRecord]) -> None:
        """Resolve a batch against the state of each partition it holds records of, one partition after the other;
        publish each one's records, then commit it (processors/checkpoint.py)."""
        partitions: dict[int, list[RawRecord]] = {}
        for record in records:
            partitions.setdefault(record.partition, []).append(record)
        async with self.lock:
            keys_end = await self._keys_caught_up(partitions)
            for partition, batch in sorted(partitions.items()):
                await self._process(partition, batch, keys_end)

    async def steer(self, partitions: Iterable[int]) -> None:
        """For each partition no batch has looked at in the last second: apply the stewards' decisions and act on
        the referenced keys other partitions changed, in a batch of no changes."""
        async with self.lock:
            due = [p for p in partitions if time.monotonic() - self._owned(p).checked >= DECISIONS_CHECK_S]
            keys_end = await self._keys_caught_up(due)
            for partition in due:
                await self._process(partition, [], keys_end)

    async def _keys_caught_up(self, partitions: Iterable[int]) -> int | None:
        """The copy of the referenced keys brought to the topic's end, once for the partitions of a batch that act on
        keys; the offset it holds up to (None when none of them does)."""
        if self.keys is None or not self.routing.referring.intersection(partitions):
            return None
        return await asyncio.get_running_loop().run_in_executor(None, self.keys.catch_up)

    def _owned(self, partition: int) -> _Owned:
        owned = self.owned.get(partition)
        if owned is None:
            processor = self.processor
            checkpoint = Checkpoint(self.kafka, processor.app_id, processor.data_dir, partition)
            owned = self.owned[partition] = _Owned(checkpoint, processor.state_cache_entries)
        return owned

    async def _process(self, partition: int, records: Sequence[RawRecord], keys_end: int | None) -> None:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        owned = self._owned(partition)
        store = await loop.run_in_executor(None, owned.checkpoint.open)
        state = StagedState(store, owned.caches)
        decisions = await self._new_decisions(owned, state)
        announced = await self._new_keys(state, keys_end) if partition in self.routing.referring else []
        if not records and not decisions and not announced:
            return
        self._publish_through(owned.checkpoint.begin())
        resolver = Resolver(self.processor, state.tables, self.keys, self.referenced)
        published, merges = Counter[str](), Counter[str]()
        pending = self._decide(resolver, partition, decisions)
        state.prefetch(resolver.announce_reads([key for _, key in announced]))
        pending += self._announce(resolver, announced)
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
        owned.checkpoint.commit(state.writes(), list(resolver.announced.values()))
        state.settle()
        owned.held = resolver.held_count()
        self.metrics.events_in.labels(self.name, self.input).inc(changes)
        for topic, count in published.items():
            self.metrics.events_out.labels(self.name, topic).inc(count)
        for entity, count in merges.items():
            self.metrics.merges.labels(entity).inc(count)
        self.metrics.held_records.set(sum(each.held for each in self.owned.values()))
        self.metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)

    async def _new_decisions(self, owned: _Owned, state: StagedState) -> list[ReadRecord]:
        """The decisions past the partition's decisions offset, if a second has passed since the last look."""
        if time.monotonic() - owned.checked < DECISIONS_CHECK_S:
            return []
        start = Constraints(state.tables.index).position
        found = await asyncio.get_running_loop().run_in_executor(None, self.decisions.read, start)
        owned.checked = time.monotonic()
        return found

    async def _new_keys(self, state: StagedState, end: int | None) -> list[tuple[int, str]]:
        """The offsets and keys of the referenced keys other partitions changed, from the partition's keys offset to
        `end`, the copy's; the partition's offset moves to `end`. None with one partition. A partition that never
        committed a batch has nothing to act on: it starts at the copy's end."""
        if self.keys is None or end is None:
            return []
        index = state.tables.index
        start = index.get(KEYS_POSITION)
        if start == end:
            return []
        index[KEYS_POSITION] = end
        if start is None:
            return []
        return await asyncio.get_running_loop().run_in_executor(None, self.keys.announced, start, end)

    def _announce(self, resolver: Resolver, announced: list[tuple[int, str]]) -> list[_Pending]:
        """Act on referenced keys other partitions changed (`Resolver.announce`); their outputs."""
        keys = self.keys
        if keys is None:
            return []
        pending: list[_Pending] = []
        for offset, key in announced:
            value = keys.get(key)
            assert value is not None, f"the copy of the keys holds every key it read, not {key}"
            event_id = f"key:{offset}"
            try:
                outputs = resolver.announce(key, value, event_id)
            except Exception as exc:
                self._dead_letter(ReadRecord(keys.topic, 0, offset, key.encode(), None), exc, event_id=event_id)
                continue
            if outputs:
                record = ReadRecord(keys.topic, 0, offset, key.encode(), None)
                pending += [_Pending(output, event_id, record, record.key or b"") for output in outputs]
        return pending

    def _decide(self, resolver: Resolver, partition: int, records: list[ReadRecord]) -> list[_Pending]:
        """Apply the decisions about the entities this partition resolves, in offset order (one that cannot be
        applied goes to the DLQ); their outputs."""
        pending: list[_Pending] = []
        constraints = resolver.constraints
        for record in records:
            event_id = f"decision:{record.offset}"
            try:
                value = self.serde.decode(record.topic, record.value)
                if value is None:
                    raise InvalidRecord("the decisions topic holds no tombstones: the value is empty")
                decision = Decision.from_value(value)
                here = self.routing.decides(decision.entity, decision.kind, partition)
                outputs = apply_decision(resolver, record.offset, decision) if here else []
            except Exception as exc:
                self._dead_letter(record, exc, event_id=event_id)
            else:
                if here:
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
