"""The field rules of a processor mapping: how one canonical field is computed from a source row."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator

Scalar = str | int | float | bool | None
"""A constant or lookup value written in the configuration file."""


def _key_text(key: object) -> object:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key) if isinstance(key, int | float) else key


def _text_keys(value: object) -> object:
    """YAML reads `1:` or `true:` as numbers and booleans; a lookup matches a value's text."""
    if not isinstance(value, dict):
        return value
    return {
        name: {_key_text(key): result for key, result in table.items()} if isinstance(table, dict) else table
        for name, table in value.items()
    }


LookupTables = Annotated[dict[str, dict[str, Scalar]], BeforeValidator(_text_keys)]
"""Lookup tables used by {lookup} and {convert, rates} rules: name -> {value's text: result}."""

UNITS: dict[str, tuple[str, int]] = {
    "mg": ("mass", 1),
    "g": ("mass", 1_000),
    "kg": ("mass", 1_000_000),
    "t": ("mass", 1_000_000_000),
    "mm": ("length", 1),
    "cm": ("length", 10),
    "m": ("length", 1_000),
    "km": ("length", 1_000_000),
    "ml": ("volume", 1),
    "l": ("volume", 1_000),
    "pcs": ("count", 1),
}
"""Physical unit -> (dimension, size in the dimension's smallest unit)."""

CURRENCY = re.compile(r"^[A-Z]{3}$")
CAST_TYPES = ("int", "decimal", "text", "bool", "date", "timestamp")


def check_unit(unit: str) -> str:
    """The unit if it is a physical unit or an ISO 4217 currency code, else a ValueError listing the choices."""
    if unit not in UNITS and not CURRENCY.match(unit):
        raise ValueError(f"unknown unit {unit!r}: use one of {', '.join(UNITS)} or a currency code such as EUR")
    return unit


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnRule(_Rule):
    """`{column: c}`: the source column's value as it is (the long form of a plain column name)."""

    column: str = Field(min_length=1, description="Source column.")


class ConstantRule(_Rule):
    """`{constant: v}`: the same value for every row."""

    constant: Scalar = Field(description="The value.")


class ConcatRule(_Rule):
    """`{concat: [c1, {constant: '-'}, c2], separator: ' '}`: the items' text joined; empty items are left out."""

    concat: list[str | ConstantRule] = Field(min_length=1, description="Source columns or {constant: v} items.")
    separator: str = Field(" ", description="Put between two non-empty items.")


class SplitRule(_Rule):
    """`{split: c, separator: ',', index: n}`: the n-th part (0-based, negative from the end) of a column's text."""

    split: str = Field(min_length=1, description="Source column.")
    separator: str = Field(",", min_length=1, description="What separates the parts.")
    index: int = Field(description="Which part, 0 for the first, -1 for the last; a missing part is null.")


class LookupRule(_Rule):
    """`{lookup: table, column: c, default: v}`: the column's value translated through a table of processor.lookups.

    Without `default`, a value the table does not hold makes the record invalid; a null value stays null.
    """

    lookup: str = Field(min_length=1, description="Name of a table declared under processor.lookups.")
    column: str = Field(min_length=1, description="Source column whose text is looked up.")
    default: Scalar = Field(None, description="The result for a value missing from the table; omit it to refuse.")

    @property
    def has_default(self) -> bool:
        """Whether `default` was written (a written null is a default too)."""
        return "default" in self.model_fields_set


class CastRule(_Rule):
    """`{cast: int|decimal|text|bool|date|timestamp, column: c}`: the column's value converted to a type."""

    cast: Literal["int", "decimal", "text", "bool", "date", "timestamp"] = Field(description="Target type.")
    column: str = Field(min_length=1, description="Source column.")


class UnitColumn(_Rule):
    """`{column: c}` as a unit: the unit is read from each row's column."""

    column: str = Field(min_length=1, description="Source column holding the unit, e.g. 'kg' or 'EUR'.")


class ConvertRule(_Rule):
    """`{convert: c, from_unit: kg, to_unit: g}`: a quantity converted between units or currencies.

    Units: mg, g, kg, t; mm, cm, m, km; ml, l; pcs. Currencies (ISO 4217 codes) need `rates`, a lookup table
    giving the value of one unit of each currency in `to_unit`, e.g. {EUR: 1.08, USD: 1} for to_unit USD.
    """

    convert: str = Field(min_length=1, description="Source column holding the quantity.")
    from_unit: str | UnitColumn = Field(description="The quantity's unit, or {column: c} to read it from each row.")
    rates: str | None = Field(None, description="Lookup table of exchange rates into to_unit, for currencies.")
    to_unit: str = Field(description="The unit of the result.")

    @field_validator("from_unit")
    @classmethod
    def _known_from_unit(cls, unit: str | UnitColumn) -> str | UnitColumn:
        return check_unit(unit) if isinstance(unit, str) else unit

    @field_validator("to_unit")
    @classmethod
    def _convertible(cls, unit: str, info: ValidationInfo) -> str:
        source, rates = info.data.get("from_unit"), info.data.get("rates")
        units = [check_unit(unit)] + ([source] if isinstance(source, str) else [])
        if rates is not None:
            physical = [name for name in units if name in UNITS]
            if physical:
                raise ValueError(f"{physical[0]!r} is not a currency: `rates` converts currencies only")
        elif any(name not in UNITS for name in units):
            raise ValueError("converting currencies needs `rates`: the name of a lookup table of exchange rates")
        elif len({UNITS[name][0] for name in units}) > 1:
            raise ValueError(f"cannot convert {UNITS[units[1]][0]} into {UNITS[units[0]][0]}")
        return unit


class EachRule(_Rule):
    """`{each: c, fields: {...}}`: a column holding a list of records (order lines), each mapped by its own rules."""

    each: str = Field(min_length=1, description="Source column holding a list of records (or its JSON text).")
    fields: dict[str, FieldRule] = Field(min_length=1, description="Canonical line field -> rule, read on each record.")


_KINDS = ("constant", "concat", "split", "lookup", "cast", "convert", "each", "column")


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "rule:rename"
    if isinstance(value, _Rule):
        return f"rule:{type(value).__name__.removesuffix('Rule').lower()}"
    if isinstance(value, dict):
        return next((f"rule:{kind}" for kind in _KINDS if kind in value), None)
    return None


FieldRule = Annotated[
    Annotated[str, Tag("rule:rename")]
    | Annotated[ColumnRule, Tag("rule:column")]
    | Annotated[ConstantRule, Tag("rule:constant")]
    | Annotated[ConcatRule, Tag("rule:concat")]
    | Annotated[SplitRule, Tag("rule:split")]
    | Annotated[LookupRule, Tag("rule:lookup")]
    | Annotated[CastRule, Tag("rule:cast")]
    | Annotated[ConvertRule, Tag("rule:convert")]
    | Annotated[EachRule, Tag("rule:each")],
    Discriminator(
        _rule_kind,
        custom_error_type="field_rule",
        custom_error_message="a field rule is a source column name or a mapping with one of the keys "
        + ", ".join(_KINDS),
    ),
]
"""A source column name (rename) or one typed rule; the tag names the rule in error locations."""

EachRule.model_rebuild()
