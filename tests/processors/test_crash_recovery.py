"""The resolve stage's crash safety without Kafka: a crash keeps any prefix of a batch's table writes.

The real worker writes a batch's state (journal first, then in place, into one changelog partition) after
publishing its records, and commits its input only once the writes are durable. Here a crash after a random
number of those writes, or after all of them, is followed by a restart from the durable state: the journal
is replayed and the uncommitted batch resolved again. The canonical records published must end as in a run
without crashes.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from processors import journal
from processors.cleanse import Cleansed, cleanse
from processors.resolve import Resolver
from processors.staged import StagedState
from seamline.processor_config import ProcessorConfig
from tests.processors.fault_stream import fault_stream
from tests.processors.raw_events import RawChange

VOLATILE = ("version", "updated_at", "origin")


class Recording(dict[str, Any]):
    """A durable store whose writes are queued in a log until the test makes them durable."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        """A fresh copy, as a table that deserialises what it reads gives."""
        value = super().get(key)
        return default if value is None else json.loads(json.dumps(value))

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((key, json.loads(json.dumps(value))))

    def __delitem__(self, key: str) -> None:
        self.log.append((key, None))

    def keep(self, count: int) -> None:
        """Make the first `count` logged writes durable and lose the rest."""
        for key, value in self.log[:count]:
            if value is None:
                self.pop(key, None)
            else:
                super().__setitem__(key, value)
        self.log.clear()


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
    store = Recording()
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
        state.commit()
        crash = rng is not None and bool(store.log) and rng.random() < 0.35
        store.keep(rng.randrange(len(store.log) + 1) if crash and rng is not None else len(store.log))
        if crash:
            crashes += 1
            journal.replay(store)
            store.keep(len(store.log))
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
