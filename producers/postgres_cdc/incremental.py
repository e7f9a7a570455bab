"""Incremental snapshots of one table while the replication stream goes on (the DBLog watermark algorithm).

`seamline source snapshot NAME --table T` writes an `execute-snapshot` row into the signal table; the
running source sees it in the stream and reads T in chunks of primary-key order. For each chunk it
commits an open marker, selects the chunk, and commits a close marker. Stream changes to the chunk's
keys between the two markers are newer than (or as new as) the chunk's rows, so those keys are
dropped from the chunk; at the close marker the remaining rows are published as reads (op r). No
key's latest state is lost or overtaken by an older one, and live changes are never held back.

Progress (tables queued, last key read) travels in the checkpoint's state, so a restart resumes at the
chunk after the last one published. Markers of a chunk interrupted by a crash are ignored.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from producers.postgres_cdc.pg_types import read_as_text
from producers.postgres_cdc.pgoutput import Tuple
from seamline.connectors.source import Refused, SourceSetupError
from seamline.events import Change

log = logging.getLogger(__name__)

TableName = tuple[str, str]
ColumnList = tuple[Any, ...]
Describe = Callable[[TableName], tuple[ColumnList, list[str]]]
"""(columns as the source's TableColumn tuple, primary key column names) of a table."""
SnapshotChange = Callable[[TableName, ColumnList, Tuple, str, int], Change | Refused]

EXECUTE = "execute-snapshot"
WINDOW_OPEN = "snapshot-window-open"
WINDOW_CLOSE = "snapshot-window-close"


class SignalTable:
    """The table through which the command line and the source's own markers reach the stream."""

    def __init__(self, table: TableName) -> None:
        self.table = table

    def ensure(self, conn: psycopg.Connection) -> None:
        """Create the signal table if it is missing."""
        name = sql.Identifier(*self.table).as_string(conn)
        if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None:  # type: ignore[index]
            return
        try:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, type text NOT NULL, data text, "
                    "created_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(*self.table))
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SourceSetupError(
                f"not allowed to create the signal table {self.table[0]}.{self.table[1]}; create it as its owner: "
                "CREATE TABLE <signal_table> (id text PRIMARY KEY, type text NOT NULL, data text, "
                "created_at timestamptz NOT NULL DEFAULT now()), and grant INSERT, DELETE on it"
            ) from exc

    def write(self, conn: psycopg.Connection, kind: str, data: dict[str, Any], signal_id: str | None = None) -> str:
        """Insert one signal (committed at once: `conn` is in autocommit); returns its id."""
        signal_id = signal_id or uuid.uuid4().hex
        conn.execute(
            sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, %s, %s)").format(sql.Identifier(*self.table)),
            (signal_id, kind, json.dumps(data)),
        )
        return signal_id

    def remove(self, conn: psycopg.Connection, ids: list[str]) -> None:
        """Delete signals that served their purpose."""
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(*self.table)), (ids,))

    def request_snapshot(self, conn: psycopg.Connection, table: TableName) -> str:
        """Ask the running source for an incremental snapshot of `table`."""
        return self.write(conn, EXECUTE, {"table": f"{table[0]}.{table[1]}"})


@dataclass
class _Window:
    chunk_id: str
    table: TableName
    columns: ColumnList
    rows: dict[tuple[str, ...], Tuple]
    last_key: list[str]
    complete: bool
    open: bool = False


@dataclass
class _Progress:
    queue: list[TableName] = field(default_factory=list)
    after: list[str] | None = None


class IncrementalSnapshots:
    """Chunked snapshots of queued tables, interleaved with the stream by open/close markers."""

    def __init__(
        self,
        conn: psycopg.Connection,
        signals: SignalTable,
        tables: list[TableName],
        chunk_size: int,
        describe: Describe,
        state: str | None,
    ) -> None:
        self._conn = conn
        self._signals = signals
        self._tables = tables
        self._chunk_size = chunk_size
        self._describe = describe
        self._progress = _Progress()
        if state:
            saved = json.loads(state)
            self._progress = _Progress([tuple(t) for t in saved["queue"]], saved["after"])
        self._window: _Window | None = None

    def state(self) -> str | None:
        """What a restart needs to go on, as JSON; None when no snapshot is under way."""
        if not self._progress.queue:
            return None
        return json.dumps({"queue": [list(t) for t in self._progress.queue], "after": self._progress.after})

    def open_window_if_due(self) -> None:
        """Start the next chunk when a snapshot is queued and no chunk is in flight."""
        while self._window is None and self._progress.queue:
            table = self._progress.queue[0]
            columns, keys = self._describe(table)
            chunk_id = uuid.uuid4().hex
            open_id = self._signals.write(self._conn, WINDOW_OPEN, {"chunk": chunk_id}, f"{chunk_id}-open")
            rows = self._read_chunk(table, columns, keys)
            close_id = self._signals.write(self._conn, WINDOW_CLOSE, {"chunk": chunk_id}, f"{chunk_id}-close")
            self._signals.remove(self._conn, [open_id, close_id])
            if not rows:
                self._finish(table)
                continue
            last = list(next(reversed(rows)))
            self._window = _Window(chunk_id, table, columns, rows, last, complete=len(rows) < self._chunk_size)

    def _read_chunk(self, table: TableName, columns: ColumnList, keys: list[str]) -> dict[tuple[str, ...], Tuple]:
        names = [column.name for column in columns]
        key_list = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        where: sql.Composable = sql.SQL("")
        params: list[Any] = []
        if self._progress.after is not None:
            where = sql.SQL("WHERE ({}) > ({})").format(key_list, sql.SQL(", ").join(sql.Placeholder() * len(keys)))
            params = list(self._progress.after)
        query = sql.SQL("SELECT {} FROM {} {} ORDER BY {} LIMIT {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
            sql.Identifier(*table),
            where,
            key_list,
            sql.Literal(self._chunk_size),
        )
        rows: dict[tuple[str, ...], Tuple] = {}
        with self._conn.cursor(binary=False) as cursor:
            read_as_text(cursor, (column.type_oid for column in columns))
            for values in cursor.execute(query, params).fetchall():
                row: Tuple = dict(zip(names, values, strict=True))
                rows[tuple((row[k] or b"").decode() for k in keys)] = row
        return rows

    def _finish(self, table: TableName) -> None:
        self._progress.queue.pop(0)
        self._progress.after = None
        log.info("incremental snapshot of %s.%s finished", *table)

    def on_change(self, table: TableName, image: Tuple | None, keys: list[str]) -> None:
        """A stream change inside an open window supersedes the chunk's copy of that row."""
        window = self._window
        if window is None or not window.open or window.table != table or image is None:
            return
        window.rows.pop(tuple((image.get(k) or b"").decode() for k in keys), None)

    def on_signal(
        self, row: Tuple | None, position: str, ts_ms: int, snapshot_change: SnapshotChange
    ) -> Generator[Change | Refused, None, None]:
        """Act on a signal-table insert; at a chunk's close marker, publish what is left of the chunk."""
        if row is None or row.get("type") is None:
            return
        kind = (row["type"] or b"").decode()
        data = json.loads((row.get("data") or b"{}").decode())
        if kind == EXECUTE:
            self._queue(data.get("table", ""))
            return
        window = self._window
        if window is None or data.get("chunk") != window.chunk_id:
            return  # a marker of a chunk interrupted by a restart
        if kind == WINDOW_OPEN:
            window.open = True
        elif kind == WINDOW_CLOSE:
            for raw in window.rows.values():
                yield snapshot_change(window.table, window.columns, raw, position, ts_ms)
            self._window = None
            if window.complete:
                self._finish(window.table)
            else:
                self._progress.after = window.last_key

    def _queue(self, name: str) -> None:
        schema, _, table = name.rpartition(".")
        wanted = (schema or "public", table)
        if wanted not in self._tables:
            log.error("incremental snapshot of %s refused: the source does not capture that table", name)
        elif wanted in self._progress.queue:
            log.info("incremental snapshot of %s is already under way", name)
        else:
            self._progress.queue.append(wanted)
            log.info("incremental snapshot of %s.%s queued", *wanted)
