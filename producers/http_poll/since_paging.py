"""The 'since' style of an http_poll object: the records changed since a time, page by page by offset, as
Mailchimp's members API lists them (`since_last_changed`, `count`, `offset`, `total_items`).

A pass asks for the records changed at or after `since`, oldest change first, and pages on by offset until
total_items; the next pass starts at the newest change it read. That time is read again (the API compares with
>=), so its records come twice with the same position and event_id, which downstream stages recognise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Cursor = dict[str, str | int]


def first_cursor(start: datetime) -> Cursor:
    return {"since": start.isoformat(timespec="seconds"), "offset": 0}


def since_params(cursor: Cursor, per_page: int) -> dict[str, Any]:
    """The query of the page at `cursor`."""
    return {
        "since_last_changed": cursor["since"],
        "offset": cursor.get("offset", 0),
        "count": per_page,
        "sort_field": "last_changed",
        "sort_dir": "ASC",
    }


def next_cursor(cursor: Cursor, records: list[dict[str, Any]], total: int, changed_field: str) -> tuple[Cursor, bool]:
    """Where the next page starts, and whether this page ended the pass."""
    offset = int(cursor.get("offset", 0)) + len(records)
    if offset < total and records:
        return {"since": cursor["since"], "offset": offset}, False
    stamps = [str(record[changed_field]) for record in records if record.get(changed_field)]
    newest = max(stamps, key=_moment, default=str(cursor["since"]))
    if _moment(newest) < _moment(str(cursor["since"])):
        newest = str(cursor["since"])
    return {"since": newest, "offset": 0}, True


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
