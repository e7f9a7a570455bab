"""The reverse mapping shared by mapped sinks: config checks against the canonical schemas, mapping canonical
records to target records, and the echo check of loop prevention."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from seamline.connectors.sections import MappedSink, TargetFields
from seamline.connectors.sink import SinkRecord
from seamline.mapping import MappingError
from sinks.reverse_mapping import ReverseMapping, unmappable
from tests.sinks.canonical_records import customer, order


class ExampleSink(MappedSink[TargetFields]):
    kind: Literal["example"] = "example"


def sink(entities: dict[str, Any], **settings: Any) -> ExampleSink:
    return ExampleSink.model_validate({"entities": entities, **settings})


def record(entity: str, value: dict[str, Any] | None) -> SinkRecord:
    return SinkRecord(entity, "x1", value, "topic", 0, 0, None, None)


def problems(error: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    return [item for error_item in error.errors() for item in error_item["ctx"]["problems"]]


def test_rules_reading_unknown_fields_are_refused_with_their_location() -> None:
    with pytest.raises(ValidationError) as caught:
        sink(
            {
                "customer": {"fields": {"Name": "name", "Phone": "telephone", "Erp": "xrefs.erp"}},
                "sales_order": {
                    "fields": {"to_Item": {"each": "lines", "fields": {"Qty": "qty", "Line": "line_number"}}}
                },
                "product": {"fields": {"Unit": {"lookup": "units", "column": "unit"}}},
            }
        )
    found = problems(caught.value)
    assert [where for where, _ in found] == [
        ("entities", "customer", "fields", "Phone"),
        ("entities", "sales_order", "fields", "to_Item", "fields", "Qty"),
        ("entities", "product", "fields", "Unit"),
    ]
    assert "customer has no field 'telephone' to read" in found[0][1]
    assert "sales_order.lines has no field 'qty'" in found[1][1]
    assert "lookup table 'units' is not declared" in found[2][1]


def test_each_must_read_a_list_of_records() -> None:
    with pytest.raises(ValidationError) as caught:
        sink({"customer": {"fields": {"Lines": {"each": "name", "fields": {"A": "x"}}}}})
    where = ("entities", "customer", "fields", "Lines", "each")
    assert problems(caught.value) == [(where, "customer.name is not a list of records: `each` maps a list of lines")]


def test_records_map_to_the_target_shape_with_lines_and_lookups() -> None:
    mapping = ReverseMapping(
        sink(
            {
                "sales_order": {
                    "fields": {
                        "SalesOrder": "order_number",
                        "SoldToParty": "customer_id",
                        "ErpKey": "xrefs.erp",
                        "Kind": {"lookup": "kinds", "column": "origin", "default": "OR"},
                        "to_Item": {"each": "lines", "fields": {"Material": "product_id", "Qty": "quantity"}},
                    }
                }
            },
            lookups={"kinds": {"shop": "WEB"}},
        )
    )
    values = mapping.target_values(record("sales_order", order(7, 2)))
    assert values == {
        "SalesOrder": "SO-7",
        "SoldToParty": "c7",
        "ErpKey": "7",
        "Kind": "OR",
        "to_Item": [{"Material": "p1", "Qty": Decimal(2)}, {"Material": "p2", "Qty": Decimal(2)}],
    }


def test_an_unmappable_record_is_rejected_naming_fields_not_values() -> None:
    mapping = ReverseMapping(sink({"customer": {"fields": {"Since": {"cast": "int", "column": "name"}}}}))
    target = record("customer", customer(3, 1))
    with pytest.raises(MappingError) as caught:
        mapping.target_values(target)
    rejected = unmappable(target, caught.value)
    assert rejected.reason == "reverse mapping failed for Since: fix the sink's fields"
    assert "Customer 3" not in rejected.reason


def test_an_echo_is_a_version_from_this_system_whose_values_the_target_holds() -> None:
    mapping = ReverseMapping(sink({"customer": {"fields": {"Name": "name"}}}, system="erp"))
    own = record("customer", customer(1, 2))
    values = {"Name": "Customer 1 v2", "Amount": Decimal("10.50"), "At": datetime(2026, 1, 5, tzinfo=UTC)}
    held = {"Name": "Customer 1 v2", "Amount": "10.5", "At": "2026-01-05T00:00:00Z", "Extra": 1}
    assert mapping.is_echo(own, values, held)
    assert not mapping.is_echo(own, values, {**held, "Amount": 10.51})
    assert not mapping.is_echo(own, values, None)
    other = record("customer", {**customer(1, 2), "origin": "crm"})
    assert not mapping.is_echo(other, values, held)
    assert not ReverseMapping(sink({"customer": {"fields": {"Name": "name"}}})).is_echo(own, values, held)
