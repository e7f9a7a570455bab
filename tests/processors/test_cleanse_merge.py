"""Cleanse and merge as plain functions: mapping, validation, versions, deletes and re-deliveries."""

from typing import Any

import pytest

from processors.cleanse import InvalidRecord, cleanse
from processors.identity import golden_id
from processors.merge import merge
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


def test_merge_versions_only_real_changes_and_ignores_redelivery() -> None:
    first = merge(None, cleanse(event("r", "0/10", ROW), {"id": "7"}, MAPPING))
    assert first.record is not None and first.record["version"] == 1
    assert first.record["id"] == golden_id("erp", "customers", "7")
    assert first.record["xrefs"] == {"erp": "7"}

    same = merge(first.state, cleanse(event("u", "0/20", ROW), {"id": "7"}, MAPPING))
    assert same.record is None

    changed = merge(same.state, cleanse(event("u", "0/30", {**ROW, "email": "ada@new.example"}), {"id": "7"}, MAPPING))
    assert changed.record is not None and changed.record["version"] == 2

    stale = merge(changed.state, cleanse(event("u", "0/10", {**ROW, "email": "old@x.example"}), {"id": "7"}, MAPPING))
    assert stale.record is None and stale.state is changed.state


def test_delete_emits_final_deleted_version_then_nothing() -> None:
    created = merge(None, cleanse(event("c", "0/10", ROW), {"id": "7"}, MAPPING))
    deleted = merge(created.state, cleanse(event("d", "0/20"), {"id": "7"}, MAPPING))
    assert deleted.record is not None
    assert deleted.record["deleted"] and deleted.tombstone and deleted.record["version"] == 2
    assert deleted.record["email"] == "ada@example.com"
    again = merge(deleted.state, cleanse(event("d", "0/30"), {"id": "7"}, MAPPING))
    assert again.record is None
    recreated = merge(again.state, cleanse(event("c", "0/40", ROW), {"id": "7"}, MAPPING))
    assert recreated.record is not None and recreated.record["version"] == 3 and not recreated.record["deleted"]
