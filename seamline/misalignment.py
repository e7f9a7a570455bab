"""Differences between a system (a target, a source) and the canonical state, described without the values."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

Kind = Literal["missing", "extra", "differs"]


@dataclass(frozen=True)
class Misalignment:
    """A record the target lacks, holds without a live canonical record, or holds with other field values;
    `fields` maps each differing field to (the canonical value's shape, the target value's shape)."""

    entity: str
    id: str
    kind: Kind
    fields: dict[str, tuple[str, str]]


def shape(value: Any) -> str:
    """What a value looks like, not what it is (no PII in reports): text(12), number, time, list(3), null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime | date):
        return "time"
    if isinstance(value, str):
        return f"text({len(value)})"
    if isinstance(value, list | tuple):
        return f"list({len(value)})"
    if isinstance(value, dict):
        return f"object({len(value)})"
    return type(value).__name__


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
