"""Reconciliation: a sink's target against the canonical state read from the canonical topics."""

from __future__ import annotations

from seamline.canonical_state import canonical_live
from seamline.config import KafkaConfig
from seamline.connectors.sections import SinkSection as SinkConfig
from seamline.metrics import Metrics
from seamline.misalignment import ReconcileError, Report
from seamline.pii import FieldCipher
from seamline.processor_config import Entity
from sinks.postgres.config import PostgresSink
from sinks.postgres.reconcile import PostgresReconciler


class Reconciliation:
    """Compares one sink's target with the canonical topics, and repairs it on request."""

    def __init__(
        self, name: str, kafka: KafkaConfig, settings: SinkConfig, metrics: Metrics, cipher: FieldCipher | None = None
    ) -> None:
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
        self.cipher = cipher or FieldCipher.disabled()

    def check(self) -> Report:
        """Every misalignment now; sets seamline_reconcile_misaligned{sink,entity,kind}."""
        found, compared = [], 0
        for entity in self.entities:
            live = canonical_live(self.kafka, entity, self.cipher)
            compared += len(live)
            found += self.target.compare(entity, live)
        report = Report(found, compared)
        counts = report.counts()
        for entity in self.entities:
            for kind in ("missing", "extra", "differs"):
                self.metrics.reconcile_misaligned.labels(f"sink.{self.name}", entity, kind).set(counts[(entity, kind)])
        return report

    def repair(self, report: Report) -> None:
        """Write the canonical records of the missing and differing rows again, and delete the extra ones."""
        for entity in self.entities:
            wrong = {m.id for m in report.misalignments if m.entity == entity and m.kind != "extra"}
            extra = [m.id for m in report.misalignments if m.entity == entity and m.kind == "extra"]
            if wrong or extra:
                live = [value for value in canonical_live(self.kafka, entity, self.cipher) if value["id"] in wrong]
                self.target.repair(entity, live, extra)
