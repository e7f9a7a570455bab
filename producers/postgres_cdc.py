"""PostgreSQL change capture: a consistent snapshot, then the logical replication stream (pgoutput).

Delivery: at-least-once. The slot's confirmed position advances only to the end of a transaction
whose every change Kafka acknowledged, so a restart re-sends at most the unconfirmed transactions.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Generator, Iterator

import psycopg
import psycopg2
import psycopg2.extras
from psycopg import sql

from producers.pgoutput import Begin, Commit, PgOutputDecoder, RowChange, Truncate, lsn_from_str, lsn_to_str
from producers.source import Checkpoint, Source, split_table
from seamline.config import PostgresCdcSource
from seamline.events import Change, Row
from seamline.metrics import Metrics

log = logging.getLogger(__name__)

CONNECTOR = "postgres_cdc"
_FETCH = 2000


class PostgresCdc(Source):
    """Captures the configured tables of one PostgreSQL database."""

    def __init__(self, name: str, config: PostgresCdcSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._dsn = config.dsn.get_secret_value()
        self._tables = [split_table(table) for table in config.tables]
        self._replication: psycopg2.extensions.connection | None = None
        self._cursor: psycopg2.extras.ReplicationCursor | None = None
        self._snapshot: tuple[str, str] | None = None
        self._decoder = PgOutputDecoder()
        self._keys: dict[tuple[str, str], list[str]] = {}
        self._last_commit_ts_ms: int | None = None  # of the transaction being read; None when caught up

    def setup(self, resume: Checkpoint | None) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            for schema, table in self._tables:
                self._keys[(schema, table)] = self._columns(conn, schema, table)[1]
            self._ensure_publication(conn)
            slot_exists = conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.config.slot,)
            ).fetchone()
            if slot_exists and not (resume and resume.snapshot_done):
                log.info(
                    "slot %s exists but no finished snapshot is recorded: taking the snapshot again", self.config.slot
                )
                conn.execute("SELECT pg_drop_replication_slot(%s)", (self.config.slot,))
                slot_exists = None
        self._replication = psycopg2.connect(self._dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        self._cursor = self._replication.cursor()
        if not slot_exists:
            self._cursor.execute(f"CREATE_REPLICATION_SLOT {self.config.slot} LOGICAL pgoutput EXPORT_SNAPSHOT")
            _slot, consistent_point, snapshot_name, _plugin = self._cursor.fetchone()
            self._snapshot = (snapshot_name, consistent_point)

    def _ensure_publication(self, conn: psycopg.Connection) -> None:
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.config.publication,)).fetchone()
        if exists:
            return
        tables = sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in self._tables)
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(self.config.publication), tables)
        )

    def changes(self) -> Generator[Change | Checkpoint | None, None, None]:
        if self._snapshot is not None:
            snapshot_name, consistent_point = self._snapshot
            yield from self._read_snapshot(snapshot_name, consistent_point)
            yield Checkpoint(consistent_point, snapshot_done=True)
            self._snapshot = None
        yield from self._stream()

    def _read_snapshot(self, snapshot_name: str, position: str) -> Iterator[Change]:
        with psycopg.connect(self._dsn) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
            snapshot_ts_ms = int(conn.execute("SELECT extract(epoch FROM now()) * 1000").fetchone()[0])
            for schema, table in self._tables:
                columns, _ = self._columns(conn, schema, table)
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
                    sql.Identifier(schema, table),
                )
                with conn.cursor(name=f"seamline_snapshot_{table}") as cursor:
                    cursor.execute(query)
                    while rows := cursor.fetchmany(_FETCH):
                        for values in rows:
                            row: Row = dict(zip(columns, values, strict=True))
                            yield self._change("r", schema, table, None, row, f"{position}:0", snapshot_ts_ms, True)

    @staticmethod
    def _columns(conn: psycopg.Connection, schema: str, table: str) -> tuple[list[str], list[str]]:
        rows = conn.execute(
            """
            SELECT a.attname, coalesce(a.attnum = ANY(i.indkey), false)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (schema, table),
        ).fetchall()
        if not rows:
            raise LookupError(f"table {schema}.{table} does not exist: fix 'tables' of source or create the table")
        keys = [name for name, is_key in rows if is_key]
        if not keys:
            raise LookupError(f"table {schema}.{table} has no primary key: add one so changes can be keyed")
        return [name for name, _ in rows], keys

    def _stream(self) -> Iterator[Change | Checkpoint | None]:
        assert self._cursor is not None and self._replication is not None
        self._cursor.start_replication(
            slot_name=self.config.slot,
            decode=False,
            options={"proto_version": "1", "publication_names": self.config.publication},
        )
        commit_lsn, commit_ts_ms, ordinal = "", 0, 0
        while True:
            message = self._cursor.read_message()
            if message is None:
                ready, _, _ = select.select([self._replication], [], [], 0.5)
                if not ready:
                    self._last_commit_ts_ms = None
                    yield None
                continue
            decoded = self._decoder.decode(message.payload)
            if isinstance(decoded, Begin):
                commit_lsn, commit_ts_ms, ordinal = lsn_to_str(decoded.final_lsn), decoded.commit_ts_ms, 0
                self._last_commit_ts_ms = commit_ts_ms
            elif isinstance(decoded, RowChange):
                ordinal += 1
                relation = decoded.relation
                yield self._change(
                    decoded.op,
                    relation.schema,
                    relation.table,
                    decoded.old,
                    decoded.new,
                    f"{commit_lsn}:{ordinal}",
                    commit_ts_ms,
                )
            elif isinstance(decoded, Truncate):
                names = ", ".join(f"{r.schema}.{r.table}" for r in decoded.relations)
                log.error(
                    "TRUNCATE of %s at %s is not captured: no row events exist for it; "
                    "delete the rows with DELETE instead, or rebuild the targets with a new snapshot",
                    names,
                    commit_lsn,
                )
            elif isinstance(decoded, Commit):
                yield Checkpoint(lsn_to_str(decoded.end_lsn), snapshot_done=True)

    def _change(
        self,
        op: str,
        schema: str,
        table: str,
        before: Row | None,
        after: Row | None,
        position: str,
        ts_ms: int,
        snapshot: bool = False,
    ) -> Change:
        image = after if after is not None else before or {}
        key = {name: image.get(name) or "" for name in self._keys[(schema, table)]}
        return Change(
            system=self.config.system,
            object=table,
            connector=CONNECTOR,
            op=op,  # type: ignore[arg-type]
            key=key,
            before=before,
            after=after,
            position=position,
            source_ts_ms=ts_ms,
            snapshot=snapshot,
        )

    def commit(self, checkpoint: Checkpoint) -> None:
        if self._cursor is not None and self._snapshot is None:
            self._cursor.send_feedback(flush_lsn=lsn_from_str(checkpoint.position), reply=True)

    def observe_lag(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = %s",
                (self.config.slot,),
            ).fetchone()
        if row is not None and row[0] is not None:
            self.metrics.source_lag_bytes.labels(self.name).set(float(row[0]))
        behind = 0.0 if self._last_commit_ts_ms is None else time.time() - self._last_commit_ts_ms / 1000
        self.metrics.source_lag_seconds.labels(self.name).set(max(0.0, behind))

    def close(self) -> None:
        if self._replication is not None:
            self._replication.close()
            self._replication = None
