"""Cleanse as a plain function: mapping, normalisation per canonical field, validation, references."""

from typing import Any

import pytest

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
