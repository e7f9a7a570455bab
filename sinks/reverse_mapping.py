"""A mapped sink's shared parts: the canonical record in the target's shape, and the echo check of loop
prevention."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from seamline.connectors.sections import MappedSink
from seamline.connectors.sink import Rejected, SinkRecord
from seamline.field_rules import FieldRule
from seamline.mapping import MappingError, map_row


class ReverseMapping:
    """Maps canonical records to target records with a sink's `entities.<entity>.fields` and `lookups`."""

    def __init__(self, config: MappedSink[Any]) -> None:
        self.fields: dict[str, Mapping[str, FieldRule]] = {e: target.fields for e, target in config.entities.items()}
        self.lookups = config.lookups
        self.system = config.system

    def target_values(self, record: SinkRecord) -> dict[str, Any]:
        """Target field -> value for a record that has a value; MappingError if a rule cannot map it."""
        if record.value is None:
            raise ValueError(f"{record.entity} {record.id} is a tombstone: it has no values to map")
        return map_row(self.fields[record.entity], record.value, self.lookups)

    def is_echo(self, record: SinkRecord, values: Mapping[str, Any], held: Mapping[str, Any] | None) -> bool:
        """Whether writing would send back what this target itself said: the version came from this sink's
        system (its `origin`) and the target already holds these values (`held`: its current record)."""
        origin = None if record.value is None else record.value.get("origin")
        if self.system is None or origin != self.system or held is None:
            return False
        return all(_same(value, held.get(name)) for name, value in values.items())


def unmappable(record: SinkRecord, error: MappingError) -> Rejected:
    """A record the reverse mapping cannot map, for the DLQ: the failing fields are named, their values are not."""
    fields = sorted({problem.split(":", 1)[0] for problem in error.problems})
    return Rejected(record, f"reverse mapping failed for {', '.join(fields)}: fix the sink's fields", "MappingError")


def _same(sent: Any, held: Any) -> bool:
    """Whether a mapped value equals the target's, numbers, times and nested lines compared by value."""
    if isinstance(sent, Mapping) and isinstance(held, Mapping):
        return all(_same(value, held.get(name)) for name, value in sent.items())
    if isinstance(sent, list) and isinstance(held, list):
        return len(sent) == len(held) and all(_same(a, b) for a, b in zip(sent, held, strict=True))
    return _scalar(sent) == _scalar(held)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        for parse in (_number, _timestamp):
            parsed = parse(value)
            if parsed is not None:
                return parsed
    return value


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except ArithmeticError:
        return None
    return number.normalize() if number.is_finite() else None


def _timestamp(text: str) -> datetime | date | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if len(text.strip()) == 10:
        return parsed.date()
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
