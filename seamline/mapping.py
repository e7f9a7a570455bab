"""Apply field rules to a row (a source row in the processor, a canonical record in a sink): the mapped values."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from seamline.field_rules import (
    UNITS,
    CastRule,
    ColumnRule,
    ConcatRule,
    ConstantRule,
    ConvertRule,
    EachRule,
    FieldRule,
    LookupRule,
    SplitRule,
    UnitColumn,
)
from seamline.shapes import shape

Row = Mapping[str, Any]
Lookups = Mapping[str, Mapping[str, Any]]


class MappingError(ValueError):
    """A row the rules cannot map; the message names each failing rule and what was wrong, describing a value by
    its shape (seamline/shapes.py), never quoting it."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class _RuleFailed(ValueError):
    """One rule failed; the message says why (without the field name)."""


def as_text(value: Any) -> str | None:
    """A typed source value (Avro decimal, timestamp, array, …) in the text form the text rules read."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def map_row(rules: Mapping[str, FieldRule], row: Row, lookups: Lookups) -> dict[str, Any]:
    """Canonical field -> value for one source row, or MappingError naming every failing rule."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, rule in rules.items():
        try:
            values[name] = apply_rule(rule, row, lookups)
        except _RuleFailed as exc:
            problems.append(f"{name}: {exc}")
        except MappingError as exc:
            problems += [f"{name}{problem}" for problem in exc.problems]
    if problems:
        raise MappingError(problems)
    return values


def apply_rule(rule: FieldRule, row: Row, lookups: Lookups) -> Any:
    """The value one rule computes from a row; _RuleFailed or MappingError (nested lines) if it cannot."""
    if isinstance(rule, str):
        return _column(row, rule)
    return _APPLY[type(rule)](rule, row, lookups)


def _column(row: Row, column: str) -> Any:
    """A column's value; 'a.b' reads field b of a nested record in column a (a map, or its JSON text)."""
    if column in row:
        return row[column]
    head, dot, rest = column.partition(".")
    if dot and head in row:
        nested = row[head]
        if isinstance(nested, str):
            try:
                nested = json.loads(nested)
            except ValueError:
                raise _RuleFailed(f"{head} is not a JSON record, so {column!r} cannot be read") from None
        if nested is None:
            return None
        if isinstance(nested, Mapping):
            return _column(nested, rest) if rest in nested or "." in rest else None
        raise _RuleFailed(f"{head} is not a record, so {column!r} cannot be read")
    raise _RuleFailed(f"the source has no column {column!r}: fix the processor mapping or the source")


def _text(row: Row, column: str) -> str | None:
    return as_text(_column(row, column))


def _concat(rule: ConcatRule, row: Row, _lookups: Lookups) -> str | None:
    items = [as_text(item.constant) if isinstance(item, ConstantRule) else _text(row, item) for item in rule.concat]
    present = [item for item in items if item]
    return rule.separator.join(present) if present else None


def _split(rule: SplitRule, row: Row, _lookups: Lookups) -> str | None:
    text = _text(row, rule.split)
    if text is None:
        return None
    parts = text.split(rule.separator)
    return parts[rule.index].strip() if -len(parts) <= rule.index < len(parts) else None


def _lookup(rule: LookupRule, row: Row, lookups: Lookups) -> Any:
    text = _text(row, rule.column)
    if text is None:
        return None
    table = lookups.get(rule.lookup)
    if table is None:
        raise _RuleFailed(f"lookup table {rule.lookup!r} is not declared under processor.lookups")
    if text in table:
        return table[text]
    if rule.has_default:
        return rule.default
    raise _RuleFailed(
        f"{rule.column} ({shape(text)}) is not in lookup table {rule.lookup!r}: add the record's value to the table "
        "(`seamline dlq show` shows the record), or give the rule a default"
    )


def to_decimal(value: Any) -> Decimal:
    """A number (or its text) as a Decimal; ValueError if it is not one."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    try:
        number = Decimal(value) if isinstance(value, Decimal | int) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _to_int(value: Any) -> int:
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError("not a whole number")
    return int(number)


_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(f"not a boolean: use one of {', '.join(sorted(_TRUE | _FALSE))}")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:  # its message quotes the value
        raise ValueError("not an ISO 8601 date such as 2024-02-29") from None


def _to_timestamp(value: Any) -> datetime:
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    except ValueError:  # its message quotes the value
        raise ValueError("not an ISO 8601 time such as 2024-02-29T13:14:15+01:00") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


_CASTS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "decimal": to_decimal,
    "text": as_text,
    "bool": _to_bool,
    "date": _to_date,
    "timestamp": _to_timestamp,
}


def _cast(rule: CastRule, row: Row, _lookups: Lookups) -> Any:
    value = _column(row, rule.column)
    if value is None or (isinstance(value, str) and not value.strip() and rule.cast != "text"):
        return None
    try:
        return _CASTS[rule.cast](value)
    except (ValueError, TypeError) as exc:
        raise _RuleFailed(f"cannot cast {rule.column} ({shape(value)}) to {rule.cast}: {exc}") from None


def _convert(rule: ConvertRule, row: Row, lookups: Lookups) -> Decimal | None:
    value = _column(row, rule.convert)
    if value is None:
        return None
    try:
        amount = to_decimal(value)
    except ValueError as exc:
        raise _RuleFailed(f"cannot convert {rule.convert} ({shape(value)}): {exc}") from None
    source = rule.from_unit if isinstance(rule.from_unit, str) else _row_unit(rule.from_unit, row, rule)
    if source == rule.to_unit:
        return amount
    if rule.rates is None:
        return amount * UNITS[source][1] / UNITS[rule.to_unit][1]
    rates = lookups.get(rule.rates)
    if rates is None:
        raise _RuleFailed(f"lookup table {rule.rates!r} is not declared under processor.lookups")
    if source not in rates:
        raise _RuleFailed(
            f"no rate for {_currency(rule)} in lookup table {rule.rates!r}: add it (its value in {rule.to_unit})"
        )
    try:
        return amount * to_decimal(rates[source])
    except ValueError as exc:
        raise _RuleFailed(f"the rate for {_currency(rule)} in lookup table {rule.rates!r} is {exc}") from None


def _currency(rule: ConvertRule) -> str:
    """The currency converted from, as a message may name it: the configured one, or the column holding it."""
    return rule.from_unit if isinstance(rule.from_unit, str) else f"the currency of column {rule.from_unit.column}"


def _row_unit(unit: UnitColumn, row: Row, rule: ConvertRule) -> str:
    text = (_text(row, unit.column) or "").strip()
    if rule.rates is not None:
        if len(text) == 3 and text.isalpha():
            return text.upper()
        raise _RuleFailed(f"{unit.column} ({shape(text)}) is not a currency code such as EUR")
    if text in UNITS and UNITS[text][0] == UNITS[rule.to_unit][0]:
        return text
    units = ", ".join(name for name, (kind, _) in UNITS.items() if kind == UNITS[rule.to_unit][0])
    raise _RuleFailed(f"{unit.column} ({shape(text)}) is not a unit convertible to {rule.to_unit}: use one of {units}")


def _each(rule: EachRule, row: Row, lookups: Lookups) -> list[dict[str, Any]] | None:
    lines = _column(row, rule.each)
    if lines is None:
        return None
    if isinstance(lines, str):
        try:
            lines = json.loads(lines)
        except ValueError:
            raise _RuleFailed(f"{rule.each} is not a JSON list of records") from None
    if not isinstance(lines, list) or not all(isinstance(line, Mapping) for line in lines):
        raise _RuleFailed(f"{rule.each} is not a list of records")
    mapped: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, line in enumerate(lines):
        try:
            mapped.append(map_row(rule.fields, line, lookups))
        except MappingError as exc:
            problems += [f"[{index}].{problem}" for problem in exc.problems]
    if problems:
        raise MappingError(problems)
    return mapped


_APPLY: dict[type, Callable[[Any, Row, Lookups], Any]] = {
    ColumnRule: lambda rule, row, _lookups: _column(row, rule.column),
    ConstantRule: lambda rule, _row, _lookups: rule.constant,
    ConcatRule: _concat,
    SplitRule: _split,
    LookupRule: _lookup,
    CastRule: _cast,
    ConvertRule: _convert,
    EachRule: _each,
}
