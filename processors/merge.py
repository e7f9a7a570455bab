"""Merge: keep the golden record of an entity and decide whether a change makes a new canonical version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.cleanse import Cleansed
from processors.identity import golden_id, xref
from seamline.events import position_order

State = dict[str, Any]


@dataclass(frozen=True)
class Merged:
    """The new golden state, and the canonical record to publish (None: nothing really changed)."""

    state: State | None
    record: dict[str, Any] | None

    @property
    def tombstone(self) -> bool:
        """A deleted record is followed by a tombstone so compaction forgets the entity."""
        return self.record is not None and self.record["deleted"]


def merge(state: State | None, change: Cleansed) -> Merged:
    """Apply one cleansed change to the golden state `{'record': canonical, 'applied': {xref: position}}`.

    A change at or before the position already applied for its source record is a re-delivery
    and changes nothing, so replays and restarts never create versions.
    """
    ref = xref(change.system, change.object, change.source_key)
    order = position_order(change.connector, change.position)
    if state is not None:
        applied = state["applied"].get(ref)
        if applied is not None and order <= tuple(applied):
            return Merged(state, None)
    if change.fields is None and (state is None or state["record"]["deleted"]):
        return Merged(state, None)

    previous = state["record"] if state else None
    fields = change.fields if change.fields is not None else _fields(previous)
    candidate = {
        **fields,
        "deleted": change.fields is None,
        "xrefs": {**(previous["xrefs"] if previous else {}), change.system: change.source_key},
    }
    applied = {**(state["applied"] if state else {}), ref: list(order)}
    if previous is not None and all(previous.get(name) == value for name, value in candidate.items()):
        return Merged({"record": previous, "applied": applied}, None)
    record = {
        **candidate,
        "id": previous["id"] if previous else golden_id(change.system, change.object, change.source_key),
        "version": previous["version"] + 1 if previous else 1,
        "origin": change.system,
        "updated_at": change.source_ts_ms,
    }
    return Merged({"record": record, "applied": applied}, record)


_META = {"id", "version", "deleted", "xrefs", "origin", "updated_at"}


def _fields(record: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (record or {}).items() if k not in _META}
