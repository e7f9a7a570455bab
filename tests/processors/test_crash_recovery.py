"""The resolve stage's crash safety without Kafka: a crash keeps all of a batch's state writes or none.

The real worker publishes a batch's records, then writes its state to the changelog in one transaction, then
to its store, and commits its input last (processors/checkpoint.py). A crash before the transaction committed
leaves the state as before the batch; a crash after it leaves the whole batch's writes (the store catches up
from the changelog). Either way the batch is read again. The canonical records must end as in a run without
crashes.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from processors.cleanse import Cleansed, cleanse
from processors.resolve import MemoryTable, Resolver
from processors.staged import StagedState
from seamline.processor_config import ProcessorConfig
from tests.processors.fault_stream import fault_stream
from tests.processors.raw_events import RawChange

VOLATILE = ("version", "updated_at", "origin")


class Durable(MemoryTable):
    """The durable state: what a table that deserialises what it reads gives, a fresh copy each time."""

    def get(self, key: str, default: Any = None) -> Any:
        value = super().get(key)
        return default if value is None else json.loads(json.dumps(value))

    def apply(self, writes: list[tuple[str, Any]]) -> None:
        for key, value in writes:
            if value is None:
                self.pop(key, None)
            else:
                self[key] = json.loads(json.dumps(value))


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
    store = Durable()
    published: dict[str, dict[str, Any] | None] = {}
    committed, crashes = 0, 0
    while committed < len(changes):
        batch = changes[committed : committed + 25]
        state = StagedState(store)
        resolver = Resolver(processor, state.tables)
        for change in batch:
            for output in resolver.apply(change):
                if output.topic.startswith("canonical."):
                    published[f"{output.topic}/{output.key}"] = output.value
        crash = rng is not None and rng.random() < 0.35
        if not crash or rng is None or rng.random() < 0.5:  # the transaction committed before the crash, or no crash
            store.apply(state.writes())
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


@pytest.mark.parametrize("seed", range(1, 7))
def test_any_crash_point_ends_in_the_same_canonical_records(seed: int) -> None:
    config, phases = fault_stream(seed=seed)
    processor = ProcessorConfig(**config)
    changes = [cleansed(processor, change) for phase in phases for change in phase.changes]
    assert run(changes, processor, random.Random(seed)) == run(changes, processor, None)
