"""Cleanse as a plain function: mapping, normalisation per canonical field, validation, references."""

import json
import re
from dataclasses import asdict, replace
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from processors import framing
from processors.cleanse import Cleansed, InvalidRecord, cleanse, encoded_changes, encoded_event_id
from processors.field_policy import field_policy
from seamline.processor_config import EntityMapping, IdentityRules, ProcessorConfig

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


ORDER = Cleansed(
    entity="sales_order",
    system="shop",
    object="orders",
    source_key="#1001",
    op="u",
    fields={"order_number": "1001", "total_amount": "12.5000", "lines": [{"line_number": 1, "quantity": "2.000"}]},
    position="0/1A:0",
    connector="postgres_cdc",
    source_ts_ms=1_700_000_000_000,
    event_id="e-1",
    same_as=["erp.customers:42"],
    parent=None,
)


@pytest.mark.parametrize(
    "change",
    [
        ORDER,
        replace(ORDER, op="d", fields=None, same_as=[], parent="erp.orders:5"),
        replace(ORDER, fields={"name": "Zoë\nLine two", "missing": None, "flag": True, "n": -(2**63)}),
    ],
)
def test_a_change_crosses_the_identity_topic_unchanged(change: Cleansed) -> None:
    assert Cleansed.decode(change.encode()) == change
    assert Cleansed.from_values(json.loads(json.dumps(change.values()))) == change  # as a held change in the state


def test_the_hop_is_compact_msgpack_of_the_fields_in_order() -> None:
    assert msgpack.unpackb(ORDER.encode()) == [getattr(ORDER, name) for name in Cleansed.__match_args__]
    assert len(ORDER.encode()) < len(json.dumps(asdict(ORDER)).encode())


def test_a_frame_carries_the_changes_of_a_batch_and_each_keeps_its_bytes_and_event_id() -> None:
    encoded = [ORDER.encode(), replace(ORDER, event_id="e-2").encode()]
    (frame,) = framing.frames(encoded)
    assert encoded_changes(frame) == encoded
    assert [encoded_event_id(item) for item in encoded_changes(frame)] == ["e-1", "e-2"]


@pytest.mark.parametrize(
    "frame, reason",
    [
        (b"\x00\xffnot json", "the frame is not a msgpack value: unpack(b) received extra data."),
        (b'{"entity": "customer"}\n', "the frame is not a msgpack value"),
        (msgpack.packb({"entity": "customer"}), "the frame is a msgpack dict, not an array of binary items"),
    ],
)
def test_a_frame_the_cleanse_stage_did_not_write_is_refused_with_the_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord, match="^not a change written by the cleanse stage") as error:
        encoded_changes(frame)
    assert reason in str(error.value) and "only the processor may write the identity topic" in str(error.value)


@pytest.mark.parametrize(
    "item, reason, event_id",
    [
        (b"\xc1", "not a msgpack value: FormatError", None),
        (b'{"event_id": "e-1"}', "not a msgpack value", None),
        (msgpack.packb([1, 2]), "a msgpack list of 2, not the 12 typed fields of a change", None),
        (msgpack.packb(ORDER.values()[:-1]), "a msgpack list of 11, not the 12 typed fields", "e-1"),
        (msgpack.packb([*ORDER.values()[:8], "late", *ORDER.values()[9:]]), "a msgpack list of 12, not", "e-1"),
        (msgpack.packb({"event_id": "e-1"}), "a msgpack dict, not the 12 typed fields of a change", None),
    ],
)
def test_an_item_the_cleanse_stage_did_not_write_is_refused_with_the_reason(
    item: bytes, reason: str, event_id: str | None
) -> None:
    with pytest.raises(InvalidRecord, match="^not a change written by the cleanse stage") as error:
        Cleansed.decode(item)
    assert reason in str(error.value)
    assert encoded_event_id(item) == event_id


def test_a_whole_number_beyond_64_bits_is_refused_at_cleanse() -> None:
    huge = replace(ORDER, fields={"line_number": 10**30})
    with pytest.raises(InvalidRecord, match="^shop.orders: a whole number is beyond 64 bits"):
        huge.encode()


CONTACTS = EntityMapping(
    source="crm.contacts",
    entity="customer",
    fields={name: name for name in ("name", "email", "phone", "country", "tax_id", "postcode")},
    default_region="US",
)
RULES = IdentityRules(match=["email", "tax_id"])
CONTACT = {"name": "Nicolò Rossi", "email": "n.rossi@example.it", "phone": "347 1234567", "country": "Italia"}


def contact(row: dict[str, Any], mapping: EntityMapping = CONTACTS, rules: IdentityRules = RULES) -> Cleansed:
    full = {"tax_id": None, "postcode": None, **row}
    return cleanse(event("c", "0/10", full), {"id": "7"}, mapping, policy=field_policy(mapping, rules))


@pytest.mark.parametrize(
    "country, phone, postcode, expected",
    [
        ("Italia", "347 1234567", "184", ("IT", "+393471234567", "00184")),
        ("中国", "13800138000", "100000", ("CN", "+8613800138000", "100000")),
        ("Bangladesh", "01811223344", "1212", ("BD", "+8801811223344", "1212")),
        ("Deutschland", "030 1234567", "1067", ("DE", "+49301234567", "01067")),
        ("España", "612 34 56 78", "8001", ("ES", "+34612345678", "08001")),
        ("United Kingdom", "020 7946 0958", "sw1a1aa", ("GB", "+442079460958", "SW1A 1AA")),
        (None, "(212) 555-0147", "2134", (None, "+12125550147", "02134")),  # no country: default_region US
    ],
)
def test_phones_and_postcodes_are_read_in_the_records_own_country(
    country: str | None, phone: str, postcode: str, expected: tuple[str | None, str, str]
) -> None:
    fields = contact({**CONTACT, "country": country, "phone": phone, "postcode": postcode}).fields
    assert fields is not None
    assert (fields["country"], fields["phone"], fields["postcode"]) == expected


def test_a_vat_number_without_prefix_is_read_in_the_records_country() -> None:
    fields = contact({**CONTACT, "tax_id": "00743110157"}).fields
    assert fields is not None and fields["tax_id"] == "IT00743110157"


def test_region_from_reads_the_country_from_another_column() -> None:
    mapping = CONTACTS.model_copy(update={"region_from": "land", "fields": {**CONTACTS.fields, "country": "country"}})
    fields = contact({**CONTACT, "country": None, "land": "IT"}, mapping).fields
    assert fields is not None and fields["phone"] == "+393471234567" and fields["country"] is None


def test_an_invalid_optional_field_is_dropped_and_reported_without_its_value() -> None:
    change = contact({**CONTACT, "country": "United States", "phone": "347 1234567"})
    assert change.fields is not None and "phone" not in change.fields
    assert change.fields["email"] == "n.rossi@example.it" and change.fields["country"] == "US"
    (issue,) = change.issues
    assert (issue.field, issue.reason, issue.action) == ("phone", "invalid", "dropped")
    assert issue.message.startswith("phone (text of 11 chars: digits, spaces) is not a valid number")
    assert "347" not in issue.message


def test_an_unknown_country_is_dropped_and_the_phone_read_in_the_default_region() -> None:
    change = contact({**CONTACT, "country": "Atlantis", "phone": "(212) 555-0147"})
    assert change.fields is not None and "country" not in change.fields
    assert change.fields["phone"] == "+12125550147"
    assert [(issue.field, issue.reason) for issue in change.issues] == [("country", "unknown")]


def test_keep_keeps_the_value_as_written_and_reports_it() -> None:
    mapping = CONTACTS.model_copy(update={"on_invalid": {"phone": "keep"}})
    change = contact({**CONTACT, "phone": " call  me "}, mapping)
    assert change.fields is not None and change.fields["phone"] == "call me"
    assert [(issue.field, issue.action) for issue in change.issues] == [("phone", "kept")]


def test_reject_refuses_the_record_for_an_optional_field() -> None:
    mapping = CONTACTS.model_copy(update={"on_invalid": {"phone": "reject"}})
    with pytest.raises(InvalidRecord, match="^phone .* is not a valid number"):
        contact({**CONTACT, "phone": "12"}, mapping)


def test_match_fields_and_required_fields_refuse_by_default() -> None:
    with pytest.raises(InvalidRecord, match=r"^email \(text of 2 chars: letters, '@'\) is not a valid address"):
        contact({**CONTACT, "email": "x@"})
    with pytest.raises(InvalidRecord, match=r"tax_id \(text of 2 chars: letters\) has fewer than 4"):
        contact({**CONTACT, "tax_id": "no"})
    with pytest.raises(InvalidRecord, match="name is required but empty"):
        contact({**CONTACT, "name": " "}, CONTACTS.model_copy(update={"on_invalid": {"name": "drop"}}))
    change = contact({**CONTACT, "email": "x@"}, rules=IdentityRules(match=["tax_id"]))  # no longer a match field
    assert [issue.field for issue in change.issues] == ["email"]


def test_a_refused_record_reports_no_issue_and_names_every_bad_field() -> None:
    with pytest.raises(InvalidRecord) as error:
        contact({**CONTACT, "email": "x@", "phone": "12", "country": "Atlantis"})
    assert str(error.value).startswith("email (text of 2 chars")  # only what refuses it; the rest is not reported


def test_without_a_policy_every_invalid_value_refuses_the_record() -> None:
    with pytest.raises(InvalidRecord, match="phone"):
        cleanse(event("c", "0/10", {**ROW, "phone": "12"}), {"id": "7"}, MAPPING)


def test_an_invalid_line_field_is_dropped_from_its_line_and_a_reference_refuses() -> None:
    orders = mapping(
        entity="sales_order",
        fields={"customer_id": "buyer", "lines": {"each": "items", "fields": {"line_number": "n", "quantity": "q"}}},
        references={"customer_id": {"match": "customer.email"}},
    )

    def order(row: dict[str, Any], on_invalid: dict[str, str] | None = None) -> Cleansed:
        chosen = orders.model_copy(update={"on_invalid": on_invalid or {}})
        return cleanse(event("c", "0/10", row), {"id": "1"}, chosen, policy=field_policy(chosen, IdentityRules()))

    row = {"buyer": "ada@example.com", "items": [{"n": 1, "q": "2"}, {"n": 2, "q": "lots"}]}
    change = order(row)
    assert change.fields is not None
    assert change.fields["lines"] == [{"line_number": 1, "quantity": "2.000"}, {"line_number": 2}]
    assert [(issue.field, issue.reason) for issue in change.issues] == [("lines.quantity", "malformed")]
    assert change.issues[0].message.startswith("lines[1].quantity: number (text of 4 chars: letters)")
    with pytest.raises(InvalidRecord, match=r"^customer_id: email .* is not a valid address"):
        order({**row, "buyer": "x@"})
    change = order({**row, "buyer": "x@"}, {"customer_id": "drop"})
    assert change.fields is not None and change.fields["customer_id"] is None
    assert [issue.field for issue in change.issues] == ["lines.quantity", "customer_id"]


@pytest.mark.parametrize(
    "on_invalid, extra, says",
    [
        ({"fax": "drop"}, {}, "on_invalid.fax: 'fax' is not a mapped field"),
        ({"lines.quantity": "drop"}, {}, "'lines.quantity' is not a mapped field"),
        ({"country": "keep"}, {"entity": "product", "fields": {"name": "n", "active": "a"}}, "'country' is not a"),
        (
            {"active": "keep"},
            {"entity": "product", "fields": {"name": "n", "active": "a"}},
            "active is not a text field",
        ),
        ({"phone": "ignore"}, {}, "on_invalid.phone"),
        ({}, {"region_from": {"lookup": "lands", "column": "c"}}, "region_from.lookup: lookup table 'lands' is not"),
        ({}, {"default_region": "Italy"}, "default_region"),
    ],
)
def test_on_invalid_and_region_settings_are_checked(
    on_invalid: dict[str, str], extra: dict[str, Any], says: str
) -> None:
    mapping = {"source": "crm.contacts", "entity": "customer", "fields": {"name": "n", "phone": "p"}, **extra}
    with pytest.raises(ValidationError, match=re.escape(says)):
        ProcessorConfig(mappings=[{**mapping, "on_invalid": on_invalid}])


def test_a_reference_cannot_be_kept_as_written() -> None:
    orders = {"source": "shop.orders", "entity": "sales_order", "fields": {"customer_id": "email"}}
    orders |= {"references": {"customer_id": {"match": "customer.email"}}, "on_invalid": {"customer_id": "keep"}}
    with pytest.raises(ValidationError, match="customer_id is a reference"):
        ProcessorConfig(mappings=[orders])
