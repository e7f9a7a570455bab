"""Query-based capture of one SQL table through a (timestamp, key) watermark (PostgreSQL, psycopg 3).

Delivery: at-least-once. The position is the watermark: the (timestamp, key) of the last row read,
written "2026-11-22T04:05:06.123456+00:00|42", meaning "the next thing to read is strictly after
this". Each row's own position is its "timestamp|key", so a re-read row has the same event_id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from producers.source import Checkpoint, Source, split_table
from seamline.config import SqlPollSource
from seamline.events import Change, Row
from seamline.metrics import Metrics

log = logging.getLogger(__name__)

CONNECTOR = "sql_poll"
_IDLE_STEP_S = 0.1
_TIMESTAMP_TYPES = {"timestamp without time zone", "timestamp with time zone"}

# (timestamp, key text); key None means "every row at or after the timestamp"
Mark = tuple[datetime, str | None]


def _utc(moment: datetime) -> datetime:
    """Timestamps without a time zone are read as UTC (the session runs in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_position(moment: datetime, key: str) -> str:
    """The watermark text of a row: ISO timestamp in UTC with microseconds, '|', the key."""
    return f"{_utc(moment).isoformat(timespec='microseconds')}|{key}"


def parse_position(position: str) -> tuple[datetime, str]:
    """The (timestamp, key) of a watermark written by format_position."""
    stamp, sep, key = position.partition("|")
    if not sep:
        raise ValueError(f"not a sql_poll position (expected 'timestamp|key'): {position!r}")
    return _utc(datetime.fromisoformat(stamp)), key


class SqlPoll(Source):
    """Polls one table for rows whose (timestamp, key) is past the watermark, in (timestamp, key) order.

    - op: a poll cannot tell an insert from an update without keeping state per key, so every row
      read is published as an upsert with op "u" (consumers treat "c" and "u" alike), and as op "d"
      (row in `before`, `after` empty) when `soft_delete_column` is true. Hard deletes are not seen.
    - Ties: rows sharing a timestamp are paged by key through the row-value comparison
      `(ts, key) > (watermark ts, watermark key)`, keys compared as the key column's own type, so a
      batch boundary inside a run of equal timestamps loses and repeats nothing.
    - Late commits: a row committed after the watermark moved past its timestamp (a long transaction
      that stamped `now()` early, or clock skew between writers) is missed with overlap_s = 0. With
      overlap_s > 0 every poll also re-reads the window [watermark - overlap_s, watermark]; rows
      already published by this process are skipped, others are published. After a restart the
      window is re-published once: at-least-once, with the same event_id per (row, timestamp).
    - Rows whose timestamp or key is NULL have no position and are never captured.
    """

    def __init__(self, name: str, config: SqlPollSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._fresh_as_of: float | None = None
        self._dsn = config.dsn.get_secret_value()
        self._schema, self._table = split_table(config.table)
        self._overlap = timedelta(seconds=config.overlap_s)
        self._conn: psycopg.Connection | None = None
        self._columns: list[str] = []
        self._ts_type = sql.SQL("")
        self._key_type = sql.SQL("")
        self._watermark: tuple[datetime, str] | None = None
        self._seen: set[tuple[datetime, str]] = set()  # published rows inside the overlap window

    def setup(self, resume: Checkpoint | None) -> None:
        self._connect()
        self._watermark = parse_position(resume.position) if resume is not None else None
        log.info("source %s polls %s.%s after %s", self.name, self._schema, self._table, self._watermark)

    def _connect(self) -> None:
        conn = psycopg.connect(self._dsn, autocommit=True)
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            self._check_columns(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _check_columns(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (self._schema, self._table),
        ).fetchall()
        where = f"{self._schema}.{self._table}"
        if not rows:
            raise LookupError(
                f"source {self.name}: table {where} does not exist: fix 'table' of the source or create the table"
            )
        types = {name: type_name for name, type_name, _ in rows}
        wanted = {
            "key_column": self.config.key_column,
            "timestamp_column": self.config.timestamp_column,
            "soft_delete_column": self.config.soft_delete_column,
        }
        missing = [f"{setting} {column!r}" for setting, column in wanted.items() if column and column not in types]
        if missing:
            raise LookupError(
                f"source {self.name}: table {where} has no column {', no column '.join(missing)} "
                f"(its columns: {', '.join(types)}): set the setting to an existing column or add the column"
            )
        ts_type = types[self.config.timestamp_column]
        if ts_type not in _TIMESTAMP_TYPES:
            raise TypeError(
                f"source {self.name}: timestamp_column {self.config.timestamp_column!r} of {where} is {ts_type}: "
                "it must be a timestamp or timestamptz column set on every insert and update"
            )
        soft = self.config.soft_delete_column
        if soft is not None and types[soft] != "boolean":
            raise TypeError(f"source {self.name}: soft_delete_column {soft!r} of {where} is {types[soft]}, not boolean")
        nullable = [
            c for c, _, not_null in rows if c in (self.config.key_column, self.config.timestamp_column) and not not_null
        ]
        if nullable:
            log.warning("source %s: rows of %s with NULL %s are not captured", self.name, where, " or ".join(nullable))
        self._columns = [name for name, _, _ in rows]
        self._ts_type = sql.SQL(ts_type)  # format_type() output: a valid SQL type name
        self._key_type = sql.SQL(types[self.config.key_column])

    def _page(self, after: Mark | None, upto: tuple[datetime, str] | None) -> list[tuple[Any, ...]]:
        """One batch of rows strictly after `after` (at or after its timestamp if its key is None),
        and at or before `upto`, in (timestamp, key) order."""
        assert self._conn is not None
        # qualified: the ::text output columns carry the same names, which ORDER BY would find ambiguous
        ts, key = sql.Identifier("src", self.config.timestamp_column), sql.Identifier("src", self.config.key_column)
        conditions = [sql.SQL("{} IS NOT NULL AND {} IS NOT NULL").format(ts, key)]
        params: list[object] = []
        if after is not None and after[1] is None:
            conditions.append(sql.SQL("{} >= %s::{}").format(ts, self._ts_type))
            params.append(after[0].isoformat())
        elif after is not None:
            conditions.append(sql.SQL("({}, {}) > (%s::{}, %s::{})").format(ts, key, self._ts_type, self._key_type))
            params += [after[0].isoformat(), after[1]]
        if upto is not None:
            conditions.append(sql.SQL("({}, {}) <= (%s::{}, %s::{})").format(ts, key, self._ts_type, self._key_type))
            params += [upto[0].isoformat(), upto[1]]
        query = sql.SQL("SELECT {}, {}::text, {} FROM {} AS src WHERE {} ORDER BY {}, {} LIMIT %s").format(
            ts,
            key,
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier("src", c)) for c in self._columns),
            sql.Identifier(self._schema, self._table),
            sql.SQL(" AND ").join(conditions),
            ts,
            key,
        )
        params.append(self.config.batch_size)
        return self._conn.execute(query, params).fetchall()

    def changes(self) -> Generator[Change | Checkpoint | None, None, None]:
        while True:
            try:
                if self._conn is None:
                    self._connect()
                if self._watermark is not None and self._overlap:
                    yield from self._reread_window(self._watermark)
                yield from self._read_forward()
            except psycopg.OperationalError as exc:
                log.warning(
                    "source %s: database unreachable (%s); retrying in %ss", self.name, exc, self.config.poll_interval_s
                )
                self.close()
            yield None
            deadline = time.monotonic() + self.config.poll_interval_s
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(_IDLE_STEP_S, left))
                yield None

    def _reread_window(self, watermark: tuple[datetime, str]) -> Iterator[Change | Checkpoint | None]:
        """Publish rows inside [watermark - overlap, watermark] that this process has not published."""
        lower = watermark[0] - self._overlap
        self._seen = {seen for seen in self._seen if seen[0] >= lower}
        after: Mark = (lower, None)
        while True:
            rows = self._page(after, watermark)
            for row in rows:
                mark = (_utc(row[0]), str(row[1]))
                if mark not in self._seen:
                    self._seen.add(mark)
                    yield self._change(row)
            if len(rows) < self.config.batch_size:
                return
            after = (_utc(rows[-1][0]), str(rows[-1][1]))

    def _read_forward(self) -> Iterator[Change | Checkpoint | None]:
        """Publish every row past the watermark, a checkpoint after each batch, until caught up."""
        while True:
            started, started_at = time.perf_counter(), time.time()
            rows = self._page(self._watermark, None)
            self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
            # caught up: what is published is as fresh as this query; behind: as old as the last row read
            self._fresh_as_of = started_at if len(rows) < self.config.batch_size else None
            for row in rows:
                mark = (_utc(row[0]), str(row[1]))
                if self._overlap:
                    self._seen.add(mark)
                yield self._change(row)
                self._watermark = mark
            if self._watermark is not None and rows:
                yield Checkpoint(format_position(*self._watermark), snapshot_done=True)
            if len(rows) < self.config.batch_size:
                return

    def _change(self, row: tuple[Any, ...]) -> Change:
        moment, key = _utc(row[0]), str(row[1])
        values: Row = dict(zip(self._columns, row[2:], strict=True))
        soft = self.config.soft_delete_column
        deleted = soft is not None and values.get(soft) == "true"
        return Change(
            system=self.config.system,
            object=self._table,
            connector=CONNECTOR,
            op="d" if deleted else "u",
            key={self.config.key_column: key},
            before=values if deleted else None,
            after=None if deleted else values,
            position=format_position(moment, key),
            source_ts_ms=int(moment.timestamp() * 1000),
        )

    def commit(self, checkpoint: Checkpoint) -> None:
        """Nothing to do: the runner stores the watermark in seamline.offsets."""

    def observe_lag(self) -> None:
        if self._fresh_as_of is not None:
            as_of = self._fresh_as_of
        elif self._watermark is not None:
            as_of = self._watermark[0].timestamp()
        else:
            return
        self.metrics.source_lag_seconds.labels(self.name).set(max(0.0, time.time() - as_of))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
