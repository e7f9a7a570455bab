"""The resolve stage over several identity partitions without Kafka: each partition with its own tables, the keys
topic as a list, and batches of the partitions in an order a seeded random picks."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from processors.cleanse import Cleansed
from processors.resolve import Output, Resolver, Tables
from processors.routing import Routing, referenced_prefixes
from processors.state_store import decode
from seamline.processor_config import ProcessorConfig
from tests.processors.resolving import Harness


@dataclass
class _Partition:
    resolver: Resolver
    queue: deque[Cleansed] = field(default_factory=deque)
    acted: int = 0
    """The keys-topic offset up to which the partition has acted."""


class PartitionedHarness(Harness):
    """A Harness whose changes go to `count` identity partitions (processors/routing.py) and wait there until
    `drain` resolves them: batches of up to `batch` changes, each after acting on the keys other batches wrote."""

    def __init__(self, processor: ProcessorConfig | dict[str, Any], count: int, seed: int, batch: int = 5) -> None:
        super().__init__(processor)
        self.routing = Routing(self.processor, count)
        referenced = referenced_prefixes(self.processor)
        self.partitions = [
            _Partition(Resolver(self.processor, Tables.in_memory(), self, referenced)) for _ in range(count)
        ]
        self.keys: list[str] = []
        """The keys topic: each record's key, by offset."""
        self.copy: dict[str, list[Any]] = {}
        self.rng = random.Random(seed)
        self.batch = batch

    def get(self, key: str) -> list[Any] | None:
        """What a referenced key names in the copy of the keys topic (the partitions' `Elsewhere`)."""
        return self.copy.get(key)

    def resolve(self, change: Cleansed) -> list[Output]:
        """Queue the change in its partitions; `drain` resolves it."""
        for partition in self.routing.partitions(change):
            self.partitions[partition].queue.append(change)
        return []

    def drain(self) -> None:
        """Resolve every queued change, a batch of a random partition at a time, until no partition has changes or
        keys to act on."""
        while ready := [p for p in self.partitions if p.queue or p.acted < len(self.keys)]:
            partition = self.rng.choice(ready)
            resolver, outputs = partition.resolver, []
            last = {key: offset for offset, key in enumerate(self.keys[partition.acted :], partition.acted)}
            for key, offset in sorted(last.items(), key=lambda item: item[1]):
                outputs += resolver.announce(key, self.copy[key], f"key:{offset}")
            partition.acted = len(self.keys)
            for _ in range(min(self.batch, len(partition.queue))):
                outputs += resolver.apply(partition.queue.popleft())
            for key, (_, value) in resolver.announced.items():
                self.keys.append(key)
                self.copy[key] = decode(value)
            resolver.announced.clear()
            self.record(outputs)
