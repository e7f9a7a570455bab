"""Building raw change events: the envelope every producer publishes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from seamline.rows import RowSchema

Op = Literal["c", "u", "d", "r", "t"]
Row = dict[str, Any]
"""Column name -> value: text (or None) without a RowSchema, else the Python value of the column's Avro type."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def event_id(system: str, obj: str, key: dict[str, str], position: str) -> str:
    """Deterministic id of a change: equal for every re-delivery of the same change."""
    material = json.dumps([system, obj, sorted(key.items()), position], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def watermark_order(position: str, _ts_ms: int = 0) -> tuple[int | str, ...]:
    """The order of a watermark position '<ISO timestamp>|<key>' (sql_poll, http_poll, salesforce): the time,
    then the key (digit-only keys as numbers, others as text; the flag keeps the two kinds apart)."""
    stamp, _, key = position.partition("|")
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return (micros, 0, int(key)) if key.isascii() and key.isdigit() else (micros, 1, key)


@dataclass(frozen=True)
class Change:
    """One captured change of one source record, ready to publish to src.<system>.<object>."""

    system: str
    object: str
    connector: str
    op: Op
    key: dict[str, str]
    before: Row | None
    after: Row | None
    position: str
    source_ts_ms: int
    snapshot: bool = False
    row_schema: RowSchema | None = None

    @property
    def event_id(self) -> str:
        """Deterministic id of this change: equal for every re-delivery of it."""
        return event_id(self.system, self.object, self.key, self.position)

    def envelope(self) -> dict[str, Any]:
        """The ChangeEvent record (schemas/change_event.avsc)."""
        return {
            "op": self.op,
            "before": self.before if self.row_schema is None else self.row_schema.record(self.before),
            "after": self.after if self.row_schema is None else self.row_schema.record(self.after),
            "source": {
                "system": self.system,
                "object": self.object,
                "connector": self.connector,
                "position": self.position,
                "snapshot": self.snapshot,
                "ts_ms": self.source_ts_ms,
            },
            "ts_ms": int(time.time() * 1000),
            "event_id": self.event_id,
        }


def format_key(columns: Mapping[str, str]) -> str:
    """The source key as one string: the value of a single key column, else 'col=value;…' in key order."""
    if len(columns) == 1:
        return next(iter(columns.values()))
    return ";".join(f"{name}={value}" for name, value in columns.items())
