"""Data stewards' decisions about merges, `seamline.decisions`: which source records are one, and which never are.

A decision names two sets of source records by their cross-references ('<system>.<object>:<key>'), not by golden
ids, since golden ids change with merges and splits while cross-references do not:

- `accept`: the two sets are one (must-link): their golden records merge, and stay merged on a replay;
- `reject`: the two sets are never one (cannot-link): they are neither suggested nor merged again;
- `split`: the records kept and the records that leave are never one again (cannot-link).

The topic is compacted and keyed by the entity and the two sets (`decision_key`), so the latest decision about the
same two sets is the one kept; the resolve stage applies decisions in offset order, and where two decisions
disagree about a pair of records the later one holds. The command line writes them (`publish`); `decisions` reads
them back.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from seamline.config import KafkaConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end, record_position
from seamline.topics import decisions_topic, ensure_topics

Kind = Literal["accept", "reject", "split"]
KINDS: tuple[Kind, ...] = ("accept", "reject", "split")


class DecisionError(ValueError):
    """A decision that cannot be taken as given; the message says what to change."""


@dataclass(frozen=True)
class Decision:
    """One steward decision; `records` and `others` are the two sets of cross-references it is about."""

    kind: Kind
    entity: str
    records: tuple[str, ...]
    others: tuple[str, ...]
    golden_ids: tuple[str, ...]
    suggestion: str | None = None
    decided_by: str = field(default_factory=getpass.getuser)
    note: str | None = None
    time: int = field(default_factory=lambda: int(time.time() * 1000))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DecisionError(f"decision kind {self.kind!r} is none of {', '.join(KINDS)}")
        if not self.records or not self.others:
            raise DecisionError(f"a {self.kind} decision names records on both sides: one side is empty")
        if set(self.records) & set(self.others):
            both = ", ".join(sorted(set(self.records) & set(self.others)))
            raise DecisionError(f"a record cannot be on both sides of a {self.kind} decision: {both}")

    @property
    def key(self) -> str:
        """The compaction key: the same for every decision about the same two sets, whatever its kind."""
        return decision_key(self.entity, self.records, self.others)

    def value(self) -> dict[str, Any]:
        """The Avro value of `seamline.decisions`."""
        return {**asdict(self), "records": sorted(self.records), "others": sorted(self.others)}

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> Decision:
        """The decision an Avro value of `seamline.decisions` holds."""
        stamp = value["time"]
        return cls(
            kind=value["kind"],
            entity=value["entity"],
            records=tuple(value["records"]),
            others=tuple(value["others"]),
            golden_ids=tuple(value["golden_ids"]),
            suggestion=value.get("suggestion"),
            decided_by=value["decided_by"],
            note=value.get("note"),
            time=int(stamp.timestamp() * 1000) if isinstance(stamp, datetime) else int(stamp),
        )


def decision_key(entity: str, records: Iterable[str], others: Iterable[str]) -> str:
    """'<entity>|<digest>' of the two sets, in either order."""
    sides = sorted([sorted(records), sorted(others)])
    digest = hashlib.sha256(json.dumps(sides, ensure_ascii=False).encode()).hexdigest()[:32]
    return f"{entity}|{digest}"


def publish(kafka: KafkaConfig, decision: Decision) -> None:
    """Write one decision (the topic is created if need be) and wait for Kafka's ack."""
    topic = decisions_topic(kafka)
    ensure_topics(kafka, [topic])
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    try:
        publisher.send(topic, serde.encode(topic, decision.value()), key=serde.encode(topic, decision.key, key=True))
        publisher.flush()
    finally:
        publisher.close()


def decisions(kafka: KafkaConfig) -> Iterator[tuple[int, Decision]]:
    """Every decision on the topic, with its offset, in offset order (older decisions compaction kept too)."""
    topic = decisions_topic(kafka)
    serde = AvroSerde(kafka)
    for message in read_to_end(kafka, topic):
        value = serde.decode(topic, message.value())
        if value is not None:
            yield record_position(message)[2], Decision.from_value(value)
