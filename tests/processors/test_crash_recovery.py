"""The resolve stage's crash safety without Kafka: a crash keeps any prefix of a batch's table writes.

The real worker writes a batch's tables (index, golden, links, held, in that order, into one changelog
partition) after publishing its records, and commits its input only once the writes are durable. Here a
crash after a random number of those writes is followed by a restart from the durable state, which
resolves the uncommitted batch again; the canonical records published must end as in a run without crashes.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from processors.cleanse import Cleansed, cleanse
from processors.resolve import Resolver, Tables
from processors.staged import Staged
from seamline.processor_config import ProcessorConfig
from tests.processors.fault_stream import fault_stream
from tests.processors.raw_events import RawChange

VOLATILE = ("version", "updated_at", "origin")


class Recording(dict[str, Any]):
    """A durable table whose writes are queued in one shared log until the test makes them durable."""

    def __init__(self, name: str, log: list[tuple[Recording, str, Any]]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def get(self, key: str, default: Any = None) -> Any:
        """A fresh copy, as a table that deserialises what it reads gives."""
        value = super().get(key)
        return default if value is None else json.loads(json.dumps(value))

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((self, key, json.loads(json.dumps(value))))

    def __delitem__(self, key: str) -> None:
        self.log.append((self, key, None))

    def apply(self, key: str, value: Any) -> None:
        if value is None:
            self.pop(key, None)
        else:
            super().__setitem__(key, value)


def cleansed(processor: ProcessorConfig, change: RawChange) -> Cleansed:
    system, obj = change.source.split(".", 1)
    source = {"system": system, "object": obj, "connector": "postgres_cdc", "snapshot": False}
    event = {
        "op": "d" if change.row is None else "u",
        "before": None,
        "after": change.row,
        "source": {**source, "position": f"0/{change.tick:X}:0", "ts_ms": change.ts_ms},
        "ts_ms": change.ts_ms,
        "event_id": str(change.tick),
    }
    mapping = next(m for m in processor.mappings if m.source == change.source)
    return cleanse(event, {"id": change.key}, mapping)


def run(changes: list[Cleansed], processor: ProcessorConfig, rng: random.Random | None) -> dict[str, Any]:
    """Resolve in batches of 25, crashing in one batch of three when `rng` is given; the live records."""
    log: list[tuple[Recording, str, Any]] = []
    durable = Tables(*(Recording(name, log) for name in ("golden", "links", "index", "held")))
    published: dict[str, dict[str, Any] | None] = {}
    committed, crashes = 0, 0
    while committed < len(changes):
        batch = changes[committed : committed + 25]
        staged = Tables(*(Staged(table) for table in (durable.golden, durable.links, durable.index, durable.held)))
        resolver = Resolver(processor, staged)
        for change in batch:
            for output in resolver.apply(change):
                if output.topic.startswith("canonical."):
                    published[f"{output.topic}/{output.key}"] = output.value
        for table in (staged.index, staged.golden, staged.links, staged.held):
            assert isinstance(table, Staged)
            table.commit()
        crash = rng is not None and bool(log) and rng.random() < 0.35
        keep = rng.randrange(len(log)) if crash and rng is not None else len(log)
        for table, key, value in log[:keep]:
            table.apply(key, value)
        log.clear()
        if crash:
            crashes += 1
            continue  # restart: the batch is read again from the last committed offset
        committed += len(batch)
    assert rng is None or crashes > 5
    return {
        key: {k: v for k, v in value.items() if k not in VOLATILE}
        for key, value in published.items()
        if value is not None and not value["deleted"]
    }


@pytest.mark.xfail(
    strict=False,  # which writes a crash keeps also follows the per-process order of a batch's keys in a table
    reason="open: at these seeded crash points a crash keeps part of a batch's golden/index writes, and resolving "
    "the batch again leaves a dependent order's customer_id stale or a held order line unapplied; a batch's "
    "table writes must become atomic",
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_crash_point_ends_in_the_same_canonical_records(seed: int) -> None:
    config, phases = fault_stream(seed=seed)
    processor = ProcessorConfig(**config)
    changes = [cleansed(processor, change) for phase in phases for change in phase.changes]
    assert run(changes, processor, random.Random(seed)) == run(changes, processor, None)
