"""What a postgres target holds, for tests that compare it before and after."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def contents(database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the target, sorted; without the times of writing (synced_at, deleted_at)."""
    with psycopg.connect(database) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name NOT IN ('synced_at', 'deleted_at') ORDER BY table_name, ordinal_position"
        ):
            columns.setdefault(table, []).append(column)
        return {
            table: sorted(
                conn.execute(
                    sql.SQL("SELECT {} FROM {}").format(
                        sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table)
                    )
                ).fetchall(),
                key=repr,
            )
            for table, names in columns.items()
        }
