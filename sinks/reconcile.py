"""Reconciliation: a sink's target against the canonical state read from the canonical topics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from seamline.config import KafkaConfig, PostgresSink
from seamline.config import Sink as SinkConfig
from seamline.metrics import Metrics
from seamline.processor_config import Entity
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic
from sinks.misalignment import Misalignment
from sinks.postgres_reconcile import PostgresReconciler


class ReconcileError(Exception):
    """A reconciliation that cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class Report:
    """The misalignments found, and how many live canonical records were compared."""

    misalignments: list[Misalignment]
    compared: int

    def counts(self) -> Counter[tuple[str, str]]:
        """(entity, kind) -> misalignments."""
        return Counter((m.entity, m.kind) for m in self.misalignments)


def canonical_live(kafka: KafkaConfig, entity: str) -> list[dict[str, Any]]:
    """The highest version of every live (not deleted) canonical record of `entity`, as the sinks' version guard
    keeps it; a tombstone ends a record, and a version after it begins a new one."""
    topic, serde = canonical_topic(kafka, entity), AvroSerde(kafka)
    newest: dict[str, dict[str, Any] | None] = {}
    for message in read_to_end(kafka, topic, timeout_s=600):
        key, value = serde.decode(topic, message.key(), key=True), serde.decode(topic, message.value())
        held = newest.get(key)
        if value is None or held is None or value["version"] >= held["version"]:
            newest[key] = value
    return [value for value in newest.values() if value is not None and not value["deleted"]]


class Reconciliation:
    """Compares one sink's target with the canonical topics, and repairs it on request."""

    def __init__(self, name: str, kafka: KafkaConfig, settings: SinkConfig, metrics: Metrics) -> None:
        if not isinstance(settings, PostgresSink):
            raise ReconcileError(
                f"sink {name} is a {settings.kind} sink: reconcile reads postgres targets only so far; "
                f"check a {settings.kind} target by replaying into a postgres sink and comparing there"
            )
        self.name = name
        self.kafka = kafka
        self.entities: list[Entity] = list(settings.tables)
        self.target = PostgresReconciler(settings)
        self.metrics = metrics

    def check(self) -> Report:
        """Every misalignment now; sets seamline_reconcile_misaligned{sink,entity,kind}."""
        found, compared = [], 0
        for entity in self.entities:
            live = canonical_live(self.kafka, entity)
            compared += len(live)
            found += self.target.compare(entity, live)
        report = Report(found, compared)
        counts = report.counts()
        for entity in self.entities:
            for kind in ("missing", "extra", "differs"):
                self.metrics.reconcile_misaligned.labels(self.name, entity, kind).set(counts[(entity, kind)])
        return report

    def repair(self, report: Report) -> None:
        """Write the canonical records of the missing and differing rows again, and delete the extra ones."""
        for entity in self.entities:
            wrong = {m.id for m in report.misalignments if m.entity == entity and m.kind != "extra"}
            extra = [m.id for m in report.misalignments if m.entity == entity and m.kind == "extra"]
            if wrong or extra:
                live = [value for value in canonical_live(self.kafka, entity) if value["id"] in wrong]
                self.target.repair(entity, live, extra)
