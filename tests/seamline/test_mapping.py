"""Field rules applied to source rows: every rule, nested lines, and the errors bad data gives."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from seamline.field_rules import FieldRule
from seamline.mapping import MappingError, as_text, map_row
from seamline.shapes import shape

RULES: TypeAdapter[dict[str, FieldRule]] = TypeAdapter(dict[str, FieldRule])
LOOKUPS: dict[str, dict[str, Any]] = {
    "countries": {"Deutschland": "DE", "France": "FR"},
    "fx_usd": {"EUR": "1.10", "GBP": 1.25},
}


def apply(rules: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return map_row(RULES.validate_python(rules), row, LOOKUPS)


def test_rename_and_column_keep_the_typed_value() -> None:
    row = {"full_name": "Ada", "credit": Decimal("12.50")}
    assert apply({"name": "full_name", "limit": {"column": "credit"}}, row) == {
        "name": "Ada",
        "limit": Decimal("12.50"),
    }


def test_constant() -> None:
    assert apply({"country": {"constant": "DE"}, "active": {"constant": True}}, {}) == {
        "country": "DE",
        "active": True,
    }


def test_concat_joins_columns_and_constants_and_skips_empty_items() -> None:
    rule = {"concat": ["first", {"constant": "von"}, "middle", "last"], "separator": " "}
    row = {"first": "Ada", "middle": None, "last": "Byron"}
    assert apply({"name": rule}, row) == {"name": "Ada von Byron"}
    assert apply({"code": {"concat": ["plant", "bin"], "separator": "-"}}, {"plant": 10, "bin": "A"}) == {
        "code": "10-A"
    }
    assert apply({"name": {"concat": ["a", "b"]}}, {"a": None, "b": ""}) == {"name": None}


def test_split_takes_a_part_or_null() -> None:
    row = {"tags": "vip, wholesale ,eu"}
    assert apply({"segment": {"split": "tags", "index": 1}}, row) == {"segment": "wholesale"}
    assert apply({"region": {"split": "tags", "index": -1}}, row) == {"region": "eu"}
    assert apply({"x": {"split": "tags", "index": 5}}, row) == {"x": None}
    assert apply({"city": {"split": "addr", "separator": "|", "index": 0}}, {"addr": "Berlin|DE"}) == {"city": "Berlin"}


def test_lookup_translates_with_and_without_default() -> None:
    assert apply({"country": {"lookup": "countries", "column": "land"}}, {"land": "France"}) == {"country": "FR"}
    rule = {"lookup": "countries", "column": "land", "default": None}
    assert apply({"country": rule}, {"land": "Atlantis"}) == {"country": None}
    assert apply({"country": {**rule, "default": "ZZ"}}, {"land": "Atlantis"}) == {"country": "ZZ"}
    assert apply({"country": {"lookup": "countries", "column": "land"}}, {"land": None}) == {"country": None}


def test_lookup_without_default_refuses_an_unknown_key_naming_the_field_and_table_but_not_the_value() -> None:
    with pytest.raises(MappingError) as error:
        apply({"country": {"lookup": "countries", "column": "land"}}, {"land": "Atlantis"})
    assert str(error.value) == (
        "country: land (text of 8 chars: letters) is not in lookup table 'countries': add the record's value to the "
        "table (`seamline dlq show` shows the record), or give the rule a default"
    )


@pytest.mark.parametrize(
    ("cast", "value", "expected"),
    [
        ("int", "42", 42),
        ("int", Decimal("7.0"), 7),
        ("decimal", "12.345", Decimal("12.345")),
        ("decimal", 3, Decimal(3)),
        ("text", Decimal("1.50"), "1.50"),
        ("text", date(2024, 2, 29), "2024-02-29"),
        ("bool", "Yes", True),
        ("bool", "0", False),
        ("bool", False, False),
        ("date", "2024-02-29", date(2024, 2, 29)),
        ("date", datetime(2024, 2, 29, 13, 0, tzinfo=UTC), date(2024, 2, 29)),
        ("timestamp", "2024-02-29T13:00:00+01:00", datetime(2024, 2, 29, 12, 0, tzinfo=UTC)),
        ("timestamp", "2024-02-29 13:00:00", datetime(2024, 2, 29, 13, 0, tzinfo=UTC)),
        ("int", None, None),
        ("int", " ", None),
    ],
)
def test_cast(cast: str, value: Any, expected: Any) -> None:
    assert apply({"f": {"cast": cast, "column": "c"}}, {"c": value}) == {"f": expected}


@pytest.mark.parametrize(
    ("cast", "value", "reason"),
    [
        ("int", "4.5", "not a whole number"),
        ("int", "abc", "not a number"),
        ("decimal", "NaN", "not a finite number"),
        ("bool", "maybe", "not a boolean"),
        ("date", "29.02.2024", "not an ISO 8601 date"),
        ("timestamp", "2024-13-45 25:00", "not an ISO 8601 time"),
        ("timestamp", [1, 2], "not an ISO 8601 time"),
    ],
)
def test_a_failed_cast_names_the_rule_column_shape_and_type_but_not_the_value(
    cast: str, value: Any, reason: str
) -> None:
    with pytest.raises(MappingError) as error:
        apply({"f": {"cast": cast, "column": "c"}}, {"c": value})
    assert f"f: cannot cast c ({shape(value)}) to {cast}: {reason}" in str(error.value)
    text = as_text(value)
    assert text is not None and text not in str(error.value)


def test_convert_physical_units() -> None:
    assert apply({"kg": {"convert": "w", "from_unit": "g", "to_unit": "kg"}}, {"w": 1500}) == {"kg": Decimal("1.5")}
    assert apply({"mm": {"convert": "l", "from_unit": "m", "to_unit": "mm"}}, {"l": "2.5"}) == {"mm": Decimal(2500)}
    assert apply({"l": {"convert": "v", "from_unit": "ml", "to_unit": "l"}}, {"v": None}) == {"l": None}
    per_row = {"convert": "w", "from_unit": {"column": "unit"}, "to_unit": "kg"}
    assert apply({"kg": per_row}, {"w": "2", "unit": "t"}) == {"kg": Decimal(2000)}
    with pytest.raises(MappingError) as error:
        apply({"kg": per_row}, {"w": "2", "unit": "cm"})
    assert str(error.value) == (
        "kg: unit (text of 2 chars: letters) is not a unit convertible to kg: use one of mg, g, kg, t"
    )


def test_convert_currencies_through_a_rate_table() -> None:
    rule = {"convert": "price", "from_unit": {"column": "currency"}, "to_unit": "USD", "rates": "fx_usd"}
    assert apply({"usd": rule}, {"price": Decimal("10.00"), "currency": "EUR"}) == {"usd": Decimal("11.0000")}
    assert apply({"usd": rule}, {"price": "4", "currency": "gbp"}) == {"usd": Decimal("5.00")}
    assert apply({"usd": rule}, {"price": "4", "currency": "USD"}) == {"usd": Decimal(4)}
    with pytest.raises(MappingError) as error:
        apply({"usd": rule}, {"price": "4", "currency": "JPY"})
    assert str(error.value) == (
        "usd: no rate for the currency of column currency in lookup table 'fx_usd': add it (its value in USD)"
    )
    with pytest.raises(MappingError) as error:
        apply({"usd": rule}, {"price": "ten", "currency": "EUR"})
    assert str(error.value) == "usd: cannot convert price (text of 3 chars: letters): not a number"
    with pytest.raises(MappingError) as error:
        apply({"usd": rule}, {"price": "4", "currency": "Yen!"})
    assert str(error.value) == "usd: currency (text of 4 chars: letters, '!') is not a currency code such as EUR"
    fixed = {"convert": "price", "from_unit": "JPY", "to_unit": "USD", "rates": "fx_usd"}
    with pytest.raises(MappingError, match="usd: no rate for JPY in lookup table 'fx_usd'"):
        apply({"usd": fixed}, {"price": "4"})


def test_each_maps_nested_lines_with_their_own_rules() -> None:
    rules = {
        "number": "order_no",
        "lines": {
            "each": "items",
            "fields": {
                "sku": "article",
                "quantity": {"cast": "int", "column": "qty"},
                "weight_kg": {"convert": "weight", "from_unit": "g", "to_unit": "kg"},
            },
        },
    }
    row = {
        "order_no": "SO-1",
        "items": [{"article": "A1", "qty": "2", "weight": 500}, {"article": "B2", "qty": 1, "weight": 0}],
    }
    assert apply(rules, row) == {
        "number": "SO-1",
        "lines": [
            {"sku": "A1", "quantity": 2, "weight_kg": Decimal("0.5")},
            {"sku": "B2", "quantity": 1, "weight_kg": Decimal(0)},
        ],
    }
    text_row = {"order_no": "SO-2", "items": '[{"article": "C3", "qty": "5", "weight": 1000}]'}
    assert apply(rules, text_row)["lines"] == [{"sku": "C3", "quantity": 5, "weight_kg": Decimal(1)}]
    assert apply(rules, {"order_no": "SO-3", "items": None})["lines"] is None


def test_each_names_the_failing_line_and_field() -> None:
    rules = {"lines": {"each": "items", "fields": {"quantity": {"cast": "int", "column": "qty"}}}}
    with pytest.raises(MappingError) as error:
        apply(rules, {"items": [{"qty": "1"}, {"qty": "x"}, {}]})
    assert error.value.problems == (
        "lines[1].quantity: cannot cast qty (text of 1 char: letters) to int: not a number",
        "lines[2].quantity: the source has no column 'qty': fix the processor mapping or the source",
    )
    with pytest.raises(MappingError, match="lines: items is not a list of records"):
        apply(rules, {"items": "[1, 2]"})
    with pytest.raises(MappingError, match="lines: items is not a JSON list of records"):
        apply(rules, {"items": "not json"})


def test_every_missing_column_is_named_in_one_error() -> None:
    assert issubclass(MappingError, ValueError)
    with pytest.raises(MappingError) as error:
        apply({"name": "full_name", "email": {"column": "mail"}, "code": {"concat": ["a", "b"]}}, {"a": 1})
    assert error.value.problems == (
        "name: the source has no column 'full_name': fix the processor mapping or the source",
        "email: the source has no column 'mail': fix the processor mapping or the source",
        "code: the source has no column 'b': fix the processor mapping or the source",
    )


def test_an_undeclared_lookup_table_is_a_mapping_error_not_a_key_error() -> None:
    rules = RULES.validate_python({"country": {"lookup": "nowhere", "column": "land"}})
    with pytest.raises(MappingError, match="lookup table 'nowhere' is not declared"):
        map_row(rules, {"land": "France"}, {})
