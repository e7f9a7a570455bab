"""Date and time loaders of sql_poll's PostgreSQL sessions: a value Python cannot hold no longer fails the page.

psycopg raises for a date or timestamp BC, after year 9999 or ±infinity, and for a time of 24:00:00, which
fails the read of every row fetched with it. These loaders clamp ±infinity to the largest / smallest value
Python holds (as postgres_cdc does) and hand back PostgreSQL's text of the other values instead, for
producers/sql_poll/sql_types.py to refuse (dates, timestamps) or publish (time is published as text).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import abc
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

_INFINITY: dict[str, tuple[Any, Any] | None] = {
    "date": (date.max, date.min),
    "timestamp": (datetime.max, datetime.min),
    "timestamptz": (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)),
    "time": None,
}


def _lenient(parser: type[abc.Loader], infinity: tuple[Any, Any] | None) -> type[Loader]:
    """psycopg's own loader `parser`, with ±infinity clamped and PostgreSQL's text for the values it refuses."""
    highest, lowest = infinity or (None, None)

    class Lenient(Loader):
        def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
            super().__init__(oid, context)
            self._parse = parser(oid, context).load

        def load(self, data: Buffer) -> Any:
            if infinity is not None and data == b"infinity":
                return highest
            if infinity is not None and data == b"-infinity":
                return lowest
            try:
                return self._parse(data)
            except psycopg.DataError:  # its message quotes the value
                return bytes(data).decode()

    return Lenient


def load_leniently(conn: psycopg.Connection[Any]) -> None:
    """Register the lenient loaders of date, timestamp, timestamptz and time on one connection (text format)."""
    for name, infinity in _INFINITY.items():
        oid = conn.adapters.types[name].oid
        parser = conn.adapters.get_loader(oid, Format.TEXT)
        assert parser is not None, f"psycopg loads {name}"
        conn.adapters.register_loader(oid, _lenient(parser, infinity))
