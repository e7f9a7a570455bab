"""Sync marks: a record holds its mark while the fields it names keep the values written, and not after."""

from __future__ import annotations

from typing import Any

from seamline.sync_marks import holds_its_mark, marked_version, sync_mark, value_at

MARK = "user_fields.seamline_sync"


def written_user() -> dict[str, Any]:
    written = {"name": "Anna Rossi", "email": "anna@example.com", "user_fields.city": "Milano", "tags": ["vip"]}
    user: dict[str, Any] = {"id": 7, "name": "Anna Rossi", "email": "anna@example.com", "tags": ["vip"]}
    user["user_fields"] = {"city": "Milano", "seamline_sync": sync_mark(12, written)}
    return user


def test_a_record_holds_its_mark_until_a_field_the_mark_names_changes() -> None:
    user = written_user()
    assert holds_its_mark(user, MARK)
    assert holds_its_mark({**user, "updated_at": "later", "notes": "not written by the sink"}, MARK)
    assert not holds_its_mark({**user, "name": "Anna Bianchi"}, MARK)
    assert not holds_its_mark({**user, "tags": ["vip", "new"]}, MARK)
    assert not holds_its_mark({**user, "user_fields": {**user["user_fields"], "city": "Roma"}}, MARK)
    assert not holds_its_mark({key: value for key, value in user.items() if key != "email"}, MARK)


def test_the_version_is_read_back_and_anything_else_is_no_mark() -> None:
    assert marked_version(written_user()["user_fields"]["seamline_sync"]) == 12
    for other in (None, 12, "", "twelve abc name", "12 abc"):
        assert marked_version(other) is None
    assert not holds_its_mark({"user_fields": {"seamline_sync": None}}, MARK)
    assert not holds_its_mark({"name": "no custom fields at all"}, MARK)


def test_values_are_read_at_dotted_paths() -> None:
    record = {"a": {"b": {"c": 1}}, "d": None}
    assert value_at(record, "a.b.c") == 1
    assert value_at(record, "a.x.c") is None and value_at(record, "d.e") is None
