"""PostgreSQL target: batched upserts guarded by version, deletes that older versions cannot undo.

Delivery: exactly-once effect. A row changes only for a newer version; a delete is remembered
in seamline_tombstones with its version, so a re-delivered older version cannot bring the row back.
With `audit`, every change that took effect is also recorded in seamline_audit in the same transaction.
An entity's child rows (a sales order's lines) are replaced in the same transaction as their parent,
and only when the parent row was written.

Two write paths (`write_path`): `copy` streams a batch into a temporary staging table and merges it with
one INSERT ... SELECT ... ON CONFLICT; `executemany` sends one upsert per record in pipeline mode.
bench/postgres_sink_bench.py measures both.

Errors (sinks/target_errors.py): one that every record would meet (a missing column, a revoked privilege, a
read-only database, ...) raises TargetFailing, and one that retrying cures is raised as it is: the runner retries
the whole batch on a new connection, and nothing is rejected. A batch refused for a record's values is written
again record by record to find the refused ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord, TargetFailing, without_values
from sinks.postgres.config import PostgresSink
from sinks.postgres.tables import ChildTable, EntityTable, ensure, entity_table
from sinks.target_errors import database_failing, whose_database_error

log = logging.getLogger(__name__)

TOMBSTONES = "seamline_tombstones"
AUDIT = "seamline_audit"
_BIGGEST_VERSION = 9223372036854775807


class PostgresTarget(Sink):
    """Writes canonical entities into tables of one PostgreSQL database (created, and evolved, at setup)."""

    remembers_deletes = True  # in seamline_tombstones, in the same transaction

    def __init__(self, config: PostgresSink) -> None:
        self.config = config
        self._conn: psycopg.Connection | None = None
        self._tables: dict[str, EntityTable] = {e: entity_table(e, name) for e, name in config.tables.items()}
        self._written = {"synced_at"} | {
            column
            for table in self._tables.values()
            for column in (
                *(c.name for c in table.columns),
                *(name for child in table.children for name in (child.parent, *(c.name for c in child.columns))),
            )
        }

    def setup(self) -> None:
        self.close()
        conn = self._conn = psycopg.connect(self.config.dsn.get_secret_value())
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (entity text NOT NULL, id text NOT NULL, "
                    "version bigint NOT NULL, deleted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (entity, id))"
                ).format(sql.Identifier(TOMBSTONES))
            )
            if self.config.audit:
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (seq bigserial PRIMARY KEY, entity text NOT NULL, "
                        "id text NOT NULL, version bigint NOT NULL, op text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(sql.Identifier(AUDIT))
                )
            for table in self._tables.values():
                for column in ensure(conn, table):
                    log.info("target table evolved: column %s added", column)
        self._create_stages(conn)

    def _connect(self) -> psycopg.Connection:
        """The connection, opened again (with its staging tables) after a failed write closed it."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            try:
                conn = psycopg.connect(self.config.dsn.get_secret_value())
            except psycopg.OperationalError as exc:
                raise TargetFailing(
                    f"cannot connect to the target database: {exc}",
                    "check that it runs and that the sink's dsn (host, port, database, user, password) is right",
                ) from exc
            try:
                self._create_stages(conn)
            except psycopg.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _create_stages(self, conn: psycopg.Connection) -> None:
        """The copy path's staging tables, of the columns the sink writes rather than of the target's tables: an
        error of a target table then shows as that table's, whatever it looked like at the connection."""
        if self.config.write_path != "copy":
            return
        with conn.transaction():
            for table in self._tables.values():
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in table.columns
                )
                conn.execute(
                    sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DELETE ROWS").format(
                        sql.Identifier(_stage(table.name)), columns
                    )
                )

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        try:
            return self._write_batch(records)
        except psycopg.Error as exc:
            self.close()  # the next attempt reconnects: the database may have restarted, or been fixed
            if whose_database_error(exc, self._written) == "target":
                raise database_failing(exc) from exc
            raise

    def _write_batch(self, records: Sequence[SinkRecord]) -> Outcome:
        """The batch in one transaction; when the database refuses it for a record's values, record by record."""
        conn = self._connect()
        try:
            with conn.transaction():
                self._write_all(conn, records, self.config.write_path)
            return Outcome()
        except psycopg.Error as exc:
            if whose_database_error(exc, self._written) != "record":
                raise
        return Outcome(rejected=self._write_one_by_one(conn, records))

    def _write_one_by_one(self, conn: psycopg.Connection, records: Sequence[SinkRecord]) -> list[Rejected]:
        """Isolate the records the database refuses for their values, each in its own savepoint; any other error
        ends the batch, nothing rejected."""
        rejected = []
        with conn.transaction():
            for record in records:
                try:
                    with conn.transaction():
                        self._write_all(conn, [record], "executemany")
                except psycopg.Error as exc:
                    if whose_database_error(exc, self._written) != "record":
                        raise
                    reason = without_values((exc.diag.message_primary or str(exc)).strip(), record.value)
                    table = self._tables[record.entity].name
                    rejected.append(Rejected(record, f"{table}: {reason}", type(exc).__name__))
        return rejected

    def _write_all(self, conn: psycopg.Connection, records: Sequence[SinkRecord], path: str) -> None:
        with conn.cursor() as cursor:
            for entity, table in self._tables.items():
                finals, tombstoned = _newest(r for r in records if r.entity == entity)
                upserts = [value for value in finals.values() if not value["deleted"]]
                if upserts:
                    upsert = self._copy_upsert if path == "copy" else self._executemany_upsert
                    written = upsert(cursor, table, upserts)
                    by_id = {value["id"]: value for value in upserts}
                    for child in table.children:
                        self._replace_children(cursor, table, child, [by_id[i] for i in written], path)
                    self._audit(cursor, entity, [(gid, by_id[gid]["version"]) for gid in written], "upsert")
                removed = [
                    *(self._delete(cursor, table, v["id"], v["version"]) for v in finals.values() if v["deleted"]),
                    *(self._delete(cursor, table, gid, None) for gid in tombstoned),
                ]
                self._audit(cursor, entity, [row for rows in removed for row in rows], "delete")

    def _audit(self, cursor: psycopg.Cursor, entity: str, changes: list[tuple[str, int]], op: str) -> None:
        if self.config.audit and changes:
            cursor.executemany(
                sql.SQL("INSERT INTO {} (entity, id, version, op) VALUES (%s, %s, %s, %s)").format(
                    sql.Identifier(AUDIT)
                ),
                [(entity, gid, version, op) for gid, version in changes],
            )

    def _copy_upsert(self, cursor: psycopg.Cursor, table: EntityTable, values: list[dict[str, Any]]) -> list[str]:
        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
        stage = sql.Identifier(_stage(table.name))
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, names)) as copy:
            for value in values:
                copy.write_row(table.row(value))
        cursor.execute(
            sql.SQL(
                "INSERT INTO {table} AS current ({names}, synced_at) SELECT {names}, now() FROM {stage} s "
                "WHERE NOT EXISTS (SELECT 1 FROM {tombstones} t WHERE t.entity = %s AND t.id = s.id "
                "AND t.version >= s.version) "
                "ON CONFLICT (id) DO UPDATE SET {updates}, synced_at = now() WHERE current.version < EXCLUDED.version "
                "RETURNING id"
            ).format(
                table=sql.Identifier(table.name),
                names=names,
                stage=stage,
                tombstones=sql.Identifier(TOMBSTONES),
                updates=_updates(table),
            ),
            (table.entity,),
        )
        return [row[0] for row in cursor.fetchall()]

    def _executemany_upsert(
        self, cursor: psycopg.Cursor, table: EntityTable, values: list[dict[str, Any]]
    ) -> list[str]:
        query = sql.SQL(
            "INSERT INTO {table} AS current ({names}, synced_at) SELECT {values}, now() "
            "WHERE NOT EXISTS (SELECT 1 FROM {tombstones} t WHERE t.entity = %s AND t.id = %s AND t.version >= %s) "
            "ON CONFLICT (id) DO UPDATE SET {updates}, synced_at = now() WHERE current.version < EXCLUDED.version "
            "RETURNING id"
        ).format(
            table=sql.Identifier(table.name),
            names=sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns),
            values=sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(c.sql_type)) for c in table.columns),
            tombstones=sql.Identifier(TOMBSTONES),
            updates=_updates(table),
        )
        params = [[*table.row(value), table.entity, value["id"], value["version"]] for value in values]
        cursor.executemany(query, params, returning=True)
        written = []
        while True:
            row = cursor.fetchone()
            if row is not None:
                written.append(row[0])
            if not cursor.nextset():
                return written

    def _replace_children(
        self, cursor: psycopg.Cursor, table: EntityTable, child: ChildTable, parents: list[dict[str, Any]], path: str
    ) -> None:
        if not parents:
            return
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                sql.Identifier(child.name), sql.Identifier(child.parent)
            ),
            ([value["id"] for value in parents],),
        )
        rows = [row for value in parents for row in table.child_rows(child, value)]
        if not rows:
            return
        names = sql.SQL(", ").join(sql.Identifier(name) for name in (child.parent, *(c.name for c in child.columns)))
        if path == "copy":
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(child.name), names)) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = sql.SQL(", ").join(
            sql.SQL("%s::{}").format(sql.SQL(sql_type)) for sql_type in ("text", *(c.sql_type for c in child.columns))
        )
        cursor.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(sql.Identifier(child.name), names, placeholders), rows
        )

    def _delete(
        self, cursor: psycopg.Cursor, table: EntityTable, gid: str, version: int | None
    ) -> list[tuple[str, int]]:
        """A deleted version removes the row and is remembered; a tombstone (version None) follows it, and a
        newer version written since keeps its row. If a row was removed, (id, the delete's version; a bare
        tombstone's is the version it removed)."""
        if version is not None:
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {0} (entity, id, version) VALUES (%s, %s, %s) ON CONFLICT (entity, id) DO UPDATE "
                    "SET version = GREATEST({0}.version, EXCLUDED.version), deleted_at = now()"
                ).format(sql.Identifier(TOMBSTONES)),
                (table.entity, gid, version),
            )
        cursor.execute(
            sql.SQL(
                "WITH bound AS (SELECT COALESCE(%s, (SELECT version FROM {1} WHERE entity = %s AND id = %s)) AS v) "
                "DELETE FROM {0} WHERE id = %s AND version <= COALESCE((SELECT v FROM bound), %s) "
                "RETURNING COALESCE((SELECT v FROM bound), version)"
            ).format(sql.Identifier(table.name), sql.Identifier(TOMBSTONES)),
            (version, table.entity, gid, gid, _BIGGEST_VERSION),
        )
        return [(gid, row[0]) for row in cursor.fetchall()]

    def rewrite(self, entity: str, values: Sequence[dict[str, Any]], extra: Iterable[str]) -> None:
        """Write `values` again over what the entity's table holds, whatever their versions say (a newer version
        held is kept), and delete the `extra` rows; one transaction. Reconciliation repairs with it."""
        table = self._tables[entity]
        ids, versions = [value["id"] for value in values], [value["version"] for value in values]
        conn = self._connect()
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "DELETE FROM {t} USING unnest(%s::text[], %s::bigint[]) AS w(id, version) "
                    "WHERE {t}.id = w.id AND {t}.version <= w.version"
                ).format(t=sql.Identifier(table.name)),
                (ids, versions),
            )
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE entity = %s AND id = ANY(%s)").format(sql.Identifier(TOMBSTONES)),
                (entity, ids),
            )
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table.name)), (list(extra),)
            )
            records = [SinkRecord(entity, value["id"], value, "", 0, 0, None, None) for value in values]
            self._write_all(conn, records, "executemany")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _stage(name: str) -> str:
    return f"seamline_stage_{name}"


def _updates(table: EntityTable) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in table.columns if c.name != "id"
    )


def _newest(records: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The newest version of each id in a batch, and the ids whose tombstone came after it (or alone)."""
    finals: dict[str, dict[str, Any]] = {}
    tombstoned: dict[str, None] = {}
    for record in records:
        if record.value is None:
            tombstoned[record.id] = None
        elif record.id not in finals or record.value["version"] >= finals[record.id]["version"]:
            finals[record.id] = record.value
            tombstoned.pop(record.id, None)
    return finals, list(tombstoned)
