"""Reconciliation of a postgres sink's tables with the canonical state, and their repair.

The expected rows are loaded into temporary tables shaped like the targets, so PostgreSQL itself compares
them column by column (IS DISTINCT FROM, with each column's own type) and child rows per parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from seamline.misalignment import Misalignment, shape
from seamline.processor_config import Entity
from sinks.postgres.config import PostgresSink
from sinks.postgres.tables import ChildTable, EntityTable, entity_table
from sinks.postgres.target import PostgresTarget


class PostgresReconciler:
    """Compares the tables of one postgres sink with canonical records, and rewrites the rows that differ."""

    def __init__(self, config: PostgresSink) -> None:
        self.config = config
        self.tables = {entity: entity_table(entity, name) for entity, name in config.tables.items()}

    def compare(self, entity: Entity, live: Sequence[dict[str, Any]]) -> list[Misalignment]:
        """Every row missing, extra or differing from `live` (the entity's live canonical records)."""
        table = self.tables[entity]
        expected = {value["id"]: value for value in live}
        with psycopg.connect(self.config.dsn.get_secret_value()) as conn, conn.transaction():
            if conn.execute("SELECT to_regclass(%s)", (table.name,)).fetchone() == (None,):
                return [Misalignment(entity, gid, "missing", {}) for gid in sorted(expected)]
            _load_expected(conn, table, live)
            found = _row_differences(conn, table)
            for child in table.children:
                for gid in _child_differences(conn, child):
                    fields = found.setdefault(gid, [child.field])  # equal parent rows: only the children differ
                    if fields and child.field not in fields:  # a missing ([]) or extra (None) parent stays that
                        fields.append(child.field)
            held = _held_rows(conn, table, [gid for gid, fields in found.items() if fields])
        return [
            _misalignment(table, gid, fields, expected.get(gid), held.get(gid)) for gid, fields in sorted(found.items())
        ]

    def repair(self, entity: Entity, live: Sequence[dict[str, Any]], extra: Iterable[str]) -> None:
        """Write the `live` records again over what the table holds (a newer version there is kept), and delete
        the `extra` rows; one transaction."""
        target = PostgresTarget(self.config)
        target.setup()
        try:
            target.rewrite(entity, live, extra)
        finally:
            target.close()


def _expected_name(name: str) -> str:
    return f"seamline_expected_{name}"


def _load_expected(conn: psycopg.Connection, table: EntityTable, live: Sequence[dict[str, Any]]) -> None:
    for name, columns, rows in [
        (table.name, [c.name for c in table.columns], [table.row(value) for value in live]),
        *(
            (
                child.name,
                [child.parent, *(c.name for c in child.columns)],
                [r for v in live for r in table.child_rows(child, v)],
            )
            for child in table.children
        ),
    ]:
        expected = sql.Identifier(_expected_name(name))
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                expected, sql.Identifier(name)
            )
        )
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(expected, names)) as copy:
            for row in rows:
                copy.write_row(row)


def _row_differences(conn: psycopg.Connection, table: EntityTable) -> dict[str, list[str] | None]:
    """id -> the differing columns ([] for a missing row, None for an extra one), rows that differ only."""
    compared = [c.name for c in table.columns if c.name != "id"]
    differing = sql.SQL(", ").join(
        sql.SQL("CASE WHEN e.{0} IS DISTINCT FROM h.{0} THEN {1} END").format(sql.Identifier(c), sql.Literal(c))
        for c in compared
    )
    query = sql.SQL(
        "SELECT coalesce(e.id, h.id), e.id IS NULL, h.id IS NULL, array_remove(ARRAY[{differing}], NULL) "
        "FROM {expected} e FULL JOIN {held} h ON e.id = h.id "
        "WHERE e.id IS NULL OR h.id IS NULL OR ({e}) IS DISTINCT FROM ({h})"
    ).format(
        differing=differing,
        expected=sql.Identifier(_expected_name(table.name)),
        held=sql.Identifier(table.name),
        e=sql.SQL(", ").join(sql.SQL("e.{}").format(sql.Identifier(c)) for c in compared),
        h=sql.SQL(", ").join(sql.SQL("h.{}").format(sql.Identifier(c)) for c in compared),
    )
    found: dict[str, list[str] | None] = {}
    for gid, extra, missing, columns in conn.execute(query):
        found[gid] = None if extra else [] if missing else list(columns)
    return found


def _child_differences(conn: psycopg.Connection, child: ChildTable) -> list[str]:
    """Parents whose child rows differ, compared as one sorted list per parent."""
    query = sql.SQL(
        "SELECT coalesce(e.parent, h.parent) FROM ({e}) e FULL JOIN ({h}) h ON e.parent = h.parent "
        "WHERE e.rows IS DISTINCT FROM h.rows"
    ).format(e=_child_lists(child, _expected_name(child.name)), h=_child_lists(child, child.name))
    return [row[0] for row in conn.execute(query)]


def _child_lists(child: ChildTable, source: str) -> sql.Composed:
    """Per parent, its child rows of table `source` as one text, in key order."""
    return sql.SQL(
        "SELECT {parent} AS parent, array_agg(ROW({columns}) ORDER BY {key})::text AS rows FROM {source} "
        "GROUP BY {parent}"
    ).format(
        parent=sql.Identifier(child.parent),
        columns=sql.SQL(", ").join(sql.Identifier(c.name) for c in child.columns),
        key=sql.Identifier(child.key),
        source=sql.Identifier(source),
    )


def _held_rows(conn: psycopg.Connection, table: EntityTable, ids: list[str]) -> dict[str, dict[str, Any]]:
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
    cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
    query = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(names, sql.Identifier(table.name))
    return {row["id"]: row for row in cursor.execute(query, (ids,))}


def _misalignment(
    table: EntityTable,
    gid: str,
    fields: list[str] | None,
    expected: dict[str, Any] | None,
    held: dict[str, Any] | None,
) -> Misalignment:
    if fields is None:
        return Misalignment(table.entity, gid, "extra", {})
    if not fields:
        return Misalignment(table.entity, gid, "missing", {})
    assert expected is not None
    columns = {c.name: c for c in table.columns}
    shapes = {}
    for name in fields:
        wanted = columns[name].value(expected) if name in columns else expected.get(name)
        shapes[name] = (shape(wanted), shape((held or {}).get(name)) if name in columns else "other rows")
    return Misalignment(table.entity, gid, "differs", shapes)
