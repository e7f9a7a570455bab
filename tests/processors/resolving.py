"""A resolver over plain dicts, fed through the real cleanse step: the processor's logic without Kafka."""

from __future__ import annotations

from typing import Any

from processors.cleanse import Cleansed, cleanse
from processors.field_policy import field_policy
from processors.resolve import Output, Resolver, Tables
from seamline.data_quality import FieldIssue
from seamline.processor_config import ProcessorConfig


class Harness:
    """Applies source rows to a resolver and keeps the latest canonical record of every golden id."""

    def __init__(self, processor: ProcessorConfig | dict[str, Any]) -> None:
        self.processor = processor if isinstance(processor, ProcessorConfig) else ProcessorConfig(**processor)
        self.tables = Tables.in_memory()
        self.resolver = Resolver(self.processor, self.tables)
        self.mappings = {mapping.source: mapping for mapping in self.processor.mappings}
        self.policies = {m.source: field_policy(m, self.processor.rules(m.entity)) for m in self.processor.mappings}
        self.issues: list[tuple[str, FieldIssue]] = []  # (xref, issue): what cleanse reported on dq.<entity>
        self.canonical: dict[str, dict[str, Any]] = {}  # "entity/id" -> latest record; tombstones remove
        self.suggestions: list[dict[str, Any]] = []
        self.ticks = 0
        self.before: dict[tuple[str, str], dict[str, Any]] = {}

    def truncate(self, source: str) -> list[Output]:
        """Apply a truncate of a source object, as postgres_cdc publishes it (op t, no key, no row)."""
        return self.change(source, "", None, op="t")

    def change(
        self, source: str, key: str, row: dict[str, Any] | None, op: str = "u", ts: int | None = None
    ) -> list[Output]:
        """Apply one change of a source row (None: a delete); positions and times increase with each call."""
        self.ticks += 1
        system, obj = source.split(".", 1)
        stamp = ts if ts is not None else 1_700_000_000_000 + self.ticks * 1000
        event = {
            "op": "d" if row is None and op != "t" else op,
            "before": None,
            "after": row,
            "source": {
                "system": system,
                "object": obj,
                "connector": "postgres_cdc",
                "position": f"0/{self.ticks:X}:0",
                "snapshot": False,
                "ts_ms": stamp,
            },
            "ts_ms": stamp,
            "event_id": f"e{self.ticks}",
        }
        mapping = self.mappings[source]
        if row is None and mapping.line_of is not None and op != "t":
            event["before"] = self.before[source, key]
        if row is not None:
            self.before[source, key] = row
        key_columns = {} if op == "t" else {"id": key}
        change = cleanse(event, key_columns, mapping, self.processor.lookups, self.policies[source])
        self.issues += [(change.xref, issue) for issue in change.issues]
        outputs = self.resolve(change)
        self.record(outputs)
        return outputs

    def resolve(self, change: Cleansed) -> list[Output]:
        """Resolve one cleansed change; what to publish."""
        return self.resolver.apply(change)

    def record(self, outputs: list[Output]) -> None:
        """Keep the latest canonical record of each golden id, and the suggestions."""
        for output in outputs:
            entity = output.topic.removeprefix("canonical.")
            if output.topic == "seamline.suggestions":
                assert output.value is not None
                self.suggestions.append(output.value)
            elif output.value is None:
                self.canonical.pop(f"{entity}/{output.key}", None)
            else:
                self.canonical[f"{entity}/{output.key}"] = output.value

    def live(self, entity: str) -> list[dict[str, Any]]:
        """The live (not deleted) records of an entity."""
        return [r for k, r in self.canonical.items() if k.startswith(f"{entity}/") and not r["deleted"]]

    def golden_of(self, ref: str) -> str | None:
        """The golden id a cross-reference is linked to."""
        link = self.tables.links.get(ref)
        return None if link is None else link["g"]
