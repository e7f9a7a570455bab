"""Times given on the command line."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time (a naive one is UTC); ValueError naming `option` and an example if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time: write e.g. 2026-11-22T08:00:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
