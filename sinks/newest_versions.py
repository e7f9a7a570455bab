"""One record per key of a batch: the one a target should get, the others left out as unchanged."""

from __future__ import annotations

from collections.abc import Sequence

from seamline.connectors.sink import Outcome, SinkRecord


def newest_per_key(records: Sequence[SinkRecord], outcome: Outcome) -> list[SinkRecord]:
    """The batch with one record per (entity, id): the highest version, or a tombstone; the others go to
    `outcome.unchanged`. A tombstone after the final `deleted` version keeps that version, which the target
    needs (its version, `merged_into`) and which deletes the record all the same."""
    chosen: dict[tuple[str, str], SinkRecord] = {}
    for record in records:
        key = (record.entity, record.id)
        other = chosen.get(key)
        if other is None or _newer(record, other):
            if other is not None:
                outcome.unchanged.append(other)
            chosen[key] = record
        else:
            outcome.unchanged.append(record)
    return list(chosen.values())


def _newer(record: SinkRecord, other: SinkRecord) -> bool:
    """Whether `record` supersedes `other` (same key, later in Kafka order); a value after a tombstone is a new
    life."""
    if record.value is None:
        return other.value is None or not other.value["deleted"]
    if other.value is None:
        return True
    return bool(record.value["version"] >= other.value["version"])
