"""Cleanse as a plain function: mapping, normalisation per canonical field, validation, references."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.cleanse import InvalidRecord, cleanse
from seamline.processor_config import EntityMapping

MAPPING = EntityMapping(
    source="erp.customers",
    entity="customer",
    fields={"name": "full_name", "email": "email", "phone": "phone", "country": "country_code"},
    default_region="DE",
)


def event(op: str, position: str, after: dict[str, Any] | None = None, ts: int = 1_700_000_000_000) -> dict[str, Any]:
    return {
        "op": op,
        "before": None,
        "after": after,
        "source": {
            "system": "erp",
            "object": "customers",
            "connector": "postgres_cdc",
            "position": position,
            "snapshot": op == "r",
            "ts_ms": ts,
        },
        "ts_ms": ts,
        "event_id": "x",
    }


ROW = {
    "id": "7",
    "full_name": " Ada  Lovelace",
    "email": "ADA@example.com",
    "phone": "030 1234567",
    "country_code": "de",
}


def test_cleanse_maps_and_normalises() -> None:
    change = cleanse(event("c", "0/10", ROW), {"id": "7"}, MAPPING)
    assert change.fields == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+49301234567",
        "country": "DE",
    }
    assert change.source_key == "7"


def test_cleanse_reports_every_bad_field() -> None:
    bad = {**ROW, "email": "x@", "full_name": " "}
    with pytest.raises(InvalidRecord) as error:
        cleanse(event("c", "0/10", bad), {"id": "7"}, MAPPING)
    assert "email (text of 2 chars: letters, '@') is not a valid address" in str(error.value)
    assert "name is required but empty" in str(error.value)


def test_cleanse_names_a_missing_column() -> None:
    with pytest.raises(InvalidRecord, match="erp.customers: country: the source has no column 'country_code'"):
        cleanse(event("c", "0/10", {k: v for k, v in ROW.items() if k != "country_code"}), {"id": "7"}, MAPPING)


def mapping(**settings: Any) -> EntityMapping:
    return EntityMapping(**{"source": "erp.orders", **settings})


def test_decimals_times_and_lines_are_normalised_per_canonical_type() -> None:
    orders = mapping(
        entity="sales_order",
        fields={
            "order_number": "number",
            "order_date": "placed",
            "total_amount": "total",
            "currency": "currency",
            "status": "status",
            "lines": {"each": "items", "fields": {"line_number": "n", "quantity": "q", "unit_price": "p"}},
        },
        decimal_separator=",",
        time_zone="Europe/Berlin",
        day_first=True,
    )
    row = {
        "number": " SO-1 ",
        "placed": "01.02.2024 10:00",
        "total": "1.234,5",
        "currency": "€",
        "status": "Confirmed",
        "items": '[{"n": "1", "q": "2,5", "p": "12"}]',
    }
    fields = cleanse(event("c", "0/10", row), {"id": "1"}, orders).fields
    assert fields == {
        "order_number": "SO-1",
        "order_date": 1_706_778_000_000,  # 09:00 UTC
        "total_amount": "1234.5000",
        "currency": "EUR",
        "status": "confirmed",
        "lines": [{"line_number": 1, "quantity": "2.500", "unit_price": "12.0000"}],
    }


def test_bad_lines_name_the_line_and_field() -> None:
    orders = mapping(entity="sales_order", fields={"lines": {"each": "items", "fields": {"line_number": "n"}}})
    with pytest.raises(InvalidRecord, match=r"lines\[1\]\.line_number is required but empty"):
        cleanse(event("c", "0/10", {"items": [{"n": 1}, {"n": None}]}), {"id": "1"}, orders)


def test_references_become_match_keys_of_the_records_they_name() -> None:
    orders = mapping(
        entity="sales_order",
        fields={
            "customer_id": "buyer",
            "lines": {"each": "items", "fields": {"line_number": "n", "product_id": "sku"}},
        },
        references={"customer_id": {"match": "customer.email"}, "lines.product_id": {"source": "erp.materials"}},
    )
    fields = cleanse(
        event("c", "0/10", {"buyer": " Ada@Example.COM", "items": [{"n": 1, "sku": "M-1"}]}), {"id": "1"}, orders
    ).fields
    assert fields is not None
    assert fields["customer_id"] == "customer|email|ada@example.com"
    assert fields["lines"][0]["product_id"] == "x:erp.materials:M-1"


def test_external_ids_and_line_headers_are_cross_references() -> None:
    accounts = EntityMapping(
        source="crm.Account", entity="customer", fields={"name": "Name"}, same_as={"erp.customers": "ErpId"}
    )
    change = cleanse(event("c", "0/10", {"Name": "Acme", "ErpId": " 42 "}), {"Id": "001"}, accounts)
    assert change.same_as == ["erp.customers:42"] and change.xref == "erp.customers:001"
    lines = mapping(
        entity="sales_order",
        fields={"line_number": "line"},
        line_of={"source": "erp.orders", "column": "order_id"},
        source="erp.order_lines",
    )
    deleted = {"op": "d", "before": {"order_id": "5", "line": 1}, "after": None}
    change = cleanse({**event("d", "0/20"), **deleted}, {"order_id": "5", "line": "1"}, lines)
    assert change.parent == "erp.orders:5" and change.fields is None


def test_a_decimal_too_large_for_the_schema_is_refused() -> None:
    products = mapping(entity="product", fields={"name": "n", "list_price": "p"})
    with pytest.raises(InvalidRecord, match="needs more than 14 digits before the point"):
        cleanse(event("c", "0/10", {"n": "x", "p": "1" * 15}), {"id": "1"}, products)


CUSTOMER_FIELDS = ("name", "email", "phone", "country", "tax_id", "postcode")
IDENTITY_MAPPING = EntityMapping(
    source="erp.customers", entity="customer", fields={name: name for name in CUSTOMER_FIELDS}, default_region="IT"
)


@settings(max_examples=300, deadline=None)
@given(row=st.fixed_dictionaries({name: st.none() | st.text(max_size=20) for name in CUSTOMER_FIELDS}))
def test_cleansing_a_record_never_fails_unexplained_and_is_idempotent(row: dict[str, str | None]) -> None:
    try:
        once = cleanse(event("c", "0/10", row), {"id": "1"}, IDENTITY_MAPPING).fields
    except InvalidRecord as error:
        assert str(error)
        return
    assert once is not None
    twice = cleanse(event("c", "0/10", once), {"id": "1"}, IDENTITY_MAPPING).fields
    assert twice == once


def test_lines_without_numbers_are_numbered_in_order() -> None:
    orders = mapping(entity="sales_order", fields={"lines": {"each": "items", "fields": {"sku": "sku"}}})
    fields = cleanse(event("c", "0/10", {"items": [{"sku": "A"}, {"sku": "B"}]}), {"id": "1"}, orders).fields
    assert fields is not None
    assert fields["lines"] == [{"line_number": 1, "sku": "A"}, {"line_number": 2, "sku": "B"}]
