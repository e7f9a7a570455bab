"""Which identity partition resolves each cleansed change, and which keys other partitions look up.

- An entity that links records by match rules or external ids (`identity.<entity>.match`, `fuzzy`, `probabilistic`,
  a mapping's `same_as`) resolves whole in one partition of its own: its match index is in one place, so golden ids
  stay independent of arrival order. With more such entities than partitions, they share them in turn.
- Every other entity (orders and their lines, stock levels) spreads over the remaining partitions by cross-reference;
  an order line goes where its header goes, and a truncate to each of them.
- A referenced key (`x:<source>:<key>` of a `{source:}` reference, `<entity>|<field>|<value>` of a `{match:}` one)
  is resolved in one partition and looked up in others: its writes go out on `<app_id>-resolve-keys`
  (processors/reference_keys.py).

With one partition (the default) everything resolves in partition 0, as before the identity topic had more.
"""

from __future__ import annotations

import zlib

from processors.cleanse import Cleansed
from processors.identity import field_key, xref_key
from seamline.processor_config import ProcessorConfig


class Routing:
    """The identity partition of each change, for `count` partitions."""

    def __init__(self, processor: ProcessorConfig, count: int) -> None:
        self.count = count
        linked = sorted(
            {
                mapping.entity
                for mapping in processor.mappings
                if mapping.same_as
                or (rules := processor.rules(mapping.entity)).match
                or rules.fuzzy is not None
                or rules.probabilistic is not None
            }
        )
        self.homes: dict[str, int] = {entity: index % count for index, entity in enumerate(linked)}
        """Entity -> its one partition, for entities that link records."""
        self.spread = list(range(len(linked), count)) if count > len(linked) else list(range(count))
        """The partitions the other entities' records spread over."""
        referring = {mapping.entity for mapping in processor.mappings if mapping.references}
        self.referring = {
            partition
            for entity in referring
            for partition in ([self.homes[entity]] if entity in self.homes else self.spread)
        }
        """The partitions that resolve records referencing others: only they hold changes waiting for a referenced
        key, or records to republish when one changes."""

    def partitions(self, change: Cleansed) -> list[int]:
        """Where the change is resolved: one partition, or each of its entity's for a truncate of a spread one."""
        home = self.homes.get(change.entity)
        if home is not None:
            return [home]
        if change.op == "t":
            return self.spread
        ref = change.parent or change.xref
        return [self.spread[zlib.crc32(ref.encode()) % len(self.spread)]]

    def decides(self, entity: str, kind: str, partition: int) -> bool:
        """Whether `partition` applies a steward's decision about `entity`: the partition the entity resolves in. An
        entity spread by cross-reference has no rules to steer: the first of its partitions refuses the decision
        (ValueError), the others skip it."""
        if self.count == 1:
            return True
        home = self.homes.get(entity)
        if home is None and partition == self.spread[0]:
            raise ValueError(
                f"a {kind} decision about {entity}, which links no records by match rules or external ids: with "
                f"processor.resolve_partitions {self.count} its records resolve in several partitions by "
                f"cross-reference, so no decision can merge or split them; give {entity} match rules to steer it"
            )
        return home == partition


def referenced_prefixes(processor: ProcessorConfig) -> tuple[str, ...]:
    """The prefixes of the index keys some mapping's references look up."""
    prefixes = set()
    for mapping in processor.mappings:
        for reference in mapping.references.values():
            if reference.source is not None:
                prefixes.add(xref_key(f"{reference.source}:"))
            else:
                assert reference.match is not None
                entity, _, name = reference.match.partition(".")
                prefixes.add(field_key(entity, (name,), ("",)))
    return tuple(sorted(prefixes))
