"""What the steward commands (`seamline suggestions`, `seamline golden split`) read and decide: open merge
suggestions, golden records as the canonical topics hold them now, and the decisions made of them
(seamline/decisions.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from seamline.config import KafkaConfig
from seamline.decisions import Decision, Kind, decisions, publish
from seamline.pii import FieldCipher
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, suggestions_topic


class StewardError(ValueError):
    """A steward command that cannot be carried out as given; the message says what to do."""


@dataclass(frozen=True)
class Suggestion:
    """Two golden records a match rule found alike; `id` names the pair whichever of them changed."""

    id: str
    entity: str
    golden_ids: tuple[str, str]
    score: float
    rule: str


def suggestion_id(entity: str, one: str, other: str) -> str:
    """A short id of the pair, the same in either order."""
    low, high = sorted((one, other))
    return hashlib.sha256(f"{entity}|{low}|{high}".encode()).hexdigest()[:12]


def golden_records(kafka: KafkaConfig, entity: str, cipher: FieldCipher) -> dict[str, dict[str, Any]]:
    """The live golden records of an entity (deleted and merged ones left out), PII fields opened."""
    topic = canonical_topic(kafka, entity)
    serde = AvroSerde(kafka)
    records: dict[str, dict[str, Any]] = {}
    for message in read_to_end(kafka, topic):
        key, value = serde.decode(topic, message.key(), key=True), serde.decode(topic, message.value())
        if value is None or value["deleted"]:
            records.pop(key, None)
        else:
            records[key] = value
    return {gid: cipher.open(entity, record) for gid, record in records.items()}


def suggestions(kafka: KafkaConfig) -> list[Suggestion]:
    """Every suggestion made, once per pair (its latest score), oldest first."""
    topic = suggestions_topic(kafka)
    serde = AvroSerde(kafka)
    found: dict[str, Suggestion] = {}
    for message in read_to_end(kafka, topic):
        value = serde.decode(topic, message.value())
        pair = (value["id"], value["candidate_id"])
        sid = suggestion_id(value["entity"], *pair)
        found.pop(sid, None)
        found[sid] = Suggestion(sid, value["entity"], pair, value["score"], value["rule"])
    return list(found.values())


def open_suggestions(kafka: KafkaConfig, cipher: FieldCipher) -> list[tuple[Suggestion, dict[str, dict[str, Any]]]]:
    """The suggestions nobody decided yet whose two golden records both still live, each with the live records of
    its entity."""
    decided = {
        decision.suggestion or suggestion_id(decision.entity, *decision.golden_ids)
        for _, decision in decisions(kafka)
        if len(decision.golden_ids) == 2
    }
    live: dict[str, dict[str, dict[str, Any]]] = {}
    found = []
    for suggestion in suggestions(kafka):
        if suggestion.id in decided:
            continue
        records = live.get(suggestion.entity)
        if records is None:
            records = live[suggestion.entity] = golden_records(kafka, suggestion.entity, cipher)
        if all(gid in records for gid in suggestion.golden_ids):
            found.append((suggestion, records))
    return found


def find_suggestion(kafka: KafkaConfig, sid: str) -> Suggestion:
    """The suggestion of id `sid` (as `seamline suggestions list` shows it), decided or not."""
    for suggestion in suggestions(kafka):
        if suggestion.id == sid:
            return suggestion
    raise StewardError(f"no suggestion {sid!r}: `seamline suggestions list` shows the open ones and their ids")


def decide_pair(
    kafka: KafkaConfig,
    cipher: FieldCipher,
    kind: Kind,
    entity: str,
    golden_ids: tuple[str, str],
    suggestion: str | None = None,
    **about: Any,
) -> Decision:
    """Publish an accept or reject of two live golden records of `entity`; the decision."""
    one, other = golden_ids
    if one == other:
        raise StewardError(f"{one} is one golden record already: name two different ones")
    records = golden_records(kafka, entity, cipher)
    gone = [gid for gid in golden_ids if gid not in records]
    if gone:
        raise StewardError(
            f"no live {entity} with golden id {', '.join(gone)} (merged, deleted or never made): "
            f"`seamline suggestions list` shows open pairs; a merged record's final version names its survivor"
        )
    sides = (tuple(records[one]["links"]), tuple(records[other]["links"]))
    decision = Decision(kind, entity, *sides, golden_ids, suggestion, **about)
    publish(kafka, decision)
    return decision


def decide_split(
    kafka: KafkaConfig, cipher: FieldCipher, entities: Iterable[str], gid: str, keep: list[str], **about: Any
) -> Decision:
    """Publish a split of golden record `gid`: the records in `keep` stay, its other records leave."""
    for entity in entities:
        record = golden_records(kafka, entity, cipher).get(gid)
        if record is not None:
            break
    else:
        raise StewardError(
            f"no live golden record {gid}: check the id (a merged record's final version names its survivor)"
        )
    links = list(record["links"])
    unknown = [ref for ref in keep if ref not in links]
    if unknown:
        raise StewardError(f"{gid} has no record {', '.join(unknown)}; its records: {', '.join(links)}")
    leaving = [ref for ref in links if ref not in keep]
    if not leaving:
        raise StewardError(f"--keep names every record of {gid}: nothing would leave; keep fewer")
    decision = Decision("split", entity, tuple(keep), tuple(leaving), (gid,), **about)
    publish(kafka, decision)
    return decision
