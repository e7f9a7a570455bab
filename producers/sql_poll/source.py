"""Query-based capture of one SQL table through a (timestamp, key) watermark, for any SQL database (SQLAlchemy Core).

Delivery: at-least-once. The position is the watermark: the (timestamp, key) of the last row read,
written "2026-11-22T04:05:06.123456+00:00|42", meaning "the next thing to read is strictly after
this". Each row's own position is its "timestamp|key", so a re-read row has the same event_id.
A row holding a value its Avro type cannot hold is yielded as Refused (for the runner's DLQ) with its columns
as text, and the poll goes on past it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from producers.sql_poll.config import SqlPollSource
from producers.sql_poll.live_keys import LiveKeys
from producers.sql_poll.sql_types import Unrepresentable, key_text, utc
from producers.sql_poll.table import EARLIEST, PolledTable, connect_engine, reflect
from seamline.config import KafkaConfig
from seamline.connectors.source import UNREPRESENTABLE, Checkpoint, Refused, Source, SourceSetupError, first_line
from seamline.events import Change, Op, Row
from seamline.metrics import Metrics
from seamline.runtime import process_stop
from seamline.topics import source_topic

log = logging.getLogger(__name__)

CONNECTOR = "sql_poll"
_KEY_STREAM_ROWS = 10_000

# (timestamp, key text); key None means "every row at or after the timestamp"
Mark = tuple[datetime, str | None]


def format_position(moment: datetime, key: str) -> str:
    """The watermark text of a row: ISO timestamp in UTC with microseconds, '|', the key."""
    return f"{utc(moment).isoformat(timespec='microseconds')}|{key}"


def parse_position(position: str) -> tuple[datetime, str]:
    """The (timestamp, key) of a watermark written by format_position."""
    stamp, sep, key = position.partition("|")
    if not sep:
        raise ValueError(f"not a sql_poll position (expected 'timestamp|key'): {position!r}")
    return utc(datetime.fromisoformat(stamp)), key


class SqlPoll(Source):
    """Polls one table for rows whose (timestamp, key) is past the watermark, in (timestamp, key) order.

    - Databases: any SQLAlchemy 2 dialect with a driver installed; tested on PostgreSQL (psycopg) and
      MariaDB (PyMySQL). Rows are typed from the reflected column types (seamline.rows.RowSchema).
    - op: a poll cannot tell an insert from an update without keeping state per key, so every row
      read is published as an upsert with op "u" (consumers treat "c" and "u" alike), and as op "d"
      (row in `before`, `after` empty) when `soft_delete_column` is true.
    - Hard deletes (delete_detection 'key_comparison'): every key_comparison_interval_s the keys
      published as live are compared with the table's keys (streamed); each vanished key is
      published as op "d" at position "comparison time|key". The comparison time is checkpointed
      before its deletes are sent, so a comparison cut short by a crash is redone with the same time
      and its deletes keep their event_ids. The live keys are rebuilt at start from the source's own
      topic (see producers.sql_poll.live_keys for the memory per key). A row deleted and inserted again
      between two comparisons is not reported as deleted.
    - Ties: rows sharing a timestamp are paged by key through `(ts, key) > (:ts, :key)` (on MariaDB
      and others its expanded form `ts > :ts OR (ts = :ts AND key > :key)`, which their planners
      answer from an index on (ts, key)), keys compared as the key column's own type, so a batch
      boundary inside a run of equal timestamps loses and repeats nothing. An index on (ts, key) keeps
      each poll a range read.
    - Late commits: a row committed after the watermark moved past its timestamp (a long transaction
      that stamped `now()` early, or clock skew between writers) is missed with overlap_s = 0. With
      overlap_s > 0 every poll also re-reads the window [watermark - overlap_s, watermark]; rows
      already published by this process are skipped, others are published. After a restart the
      window is re-published once: at-least-once, with the same event_id per (row, timestamp).
    - Values at the edges: ±infinity dates and timestamps are published as the largest / smallest value Python
      holds; a row with a date or timestamp Python cannot hold (BC, after 9999, a MariaDB zero date) or NaN in a
      decimal is refused to the DLQ with its columns as text, naming the columns; its position is passed all the
      same. A soft-deleted row holding one is published as a delete whose `before` has the key column only.
    - Rows whose timestamp or key is NULL, or whose timestamp no position can hold (±infinity, BC, after 9999, a
      zero date), have no position and are never captured; setup counts the latter in a warning.
    """

    def __init__(self, name: str, config: SqlPollSource, metrics: Metrics, kafka: KafkaConfig | None = None) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self.kafka = kafka
        self._fresh_as_of: float | None = None
        self._overlap = timedelta(seconds=config.overlap_s)
        self._engine: sa.Engine | None = None
        self._table: PolledTable | None = None
        self._watermark: tuple[datetime, str] | None = None
        self._seen: set[tuple[datetime, str]] = set()  # published rows inside the overlap window
        self._compare = config.delete_detection == "key_comparison"
        self._live = LiveKeys()
        self._compared_at: datetime | None = None
        self._comparing_at: datetime | None = None

    def setup(self, resume: Checkpoint | None) -> None:
        if self._compare and self.kafka is None:
            raise SourceSetupError(f"source {self.name}: delete_detection 'key_comparison' needs the Kafka settings")
        self._connect()
        assert self._table is not None
        self._watermark = parse_position(resume.position) if resume is not None else None
        state = json.loads(resume.state) if resume is not None and resume.state else {}
        self._compared_at = _moment(state.get("compared_at"))
        self._comparing_at = _moment(state.get("comparing_at"))
        if self._compare and self.kafka is not None:
            topic = source_topic(self.kafka, self.config.system, self._table.object)
            self._live.rebuild(self.kafka, topic, self.config.key_column)
        self._warn_unpositioned()
        log.info("source %s polls %s after %s", self.name, self._table.where, self._watermark)

    def _connect(self) -> None:
        engine = connect_engine(self.name, self.config.dsn.get_secret_value())
        try:
            self._table = reflect(self.name, engine, self.config)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    def _warn_unpositioned(self) -> None:
        assert self._engine is not None and self._table is not None
        with self._engine.connect() as conn:
            count = conn.execute(self._table.unpositioned()).scalar_one()
        if count:
            log.warning(
                "source %s: %d rows of %s have %s before year 1 or after 9999 (±infinity, BC or a zero date), which "
                "no position can hold: they are not captured until it is set within years 1 to 9999",
                self.name,
                count,
                self._table.where,
                self.config.timestamp_column,
            )

    def changes(self) -> Generator[Change | Refused | Checkpoint | None, None, None]:
        while True:
            try:
                if self._engine is None:
                    self._connect()
                if self._watermark is not None and self._overlap:
                    yield from self._reread_window(self._watermark)
                yield from self._read_forward()
                if self._compare and (self._comparing_at is not None or self._comparison_due()):
                    yield from self._compare_keys()
            except sa_exc.OperationalError as exc:
                log.warning(
                    "source %s: database unreachable (%s); retrying in %ss",
                    self.name,
                    first_line(exc.orig or exc),
                    self.config.poll_interval_s,
                )
                self.close()
            yield from process_stop.idle(self.config.poll_interval_s)

    def _rows(self, after: Mark | None, upto: tuple[datetime, str] | None) -> list[sa.Row[Any]]:
        assert self._engine is not None and self._table is not None
        query = self._table.page(after, upto, self.config.batch_size)
        with self._engine.connect() as conn:  # a transaction per page: every page sees the newest commits
            return list(conn.execute(query).all())

    def _reread_window(self, watermark: tuple[datetime, str]) -> Iterator[Change | Refused | Checkpoint | None]:
        """Publish rows inside [watermark - overlap, watermark] that this process has not published."""
        assert self._table is not None
        lower = watermark[0] - min(self._overlap, watermark[0] - EARLIEST)
        self._seen = {seen for seen in self._seen if seen[0] >= lower}
        after: Mark = (lower, None)
        while True:
            rows = self._rows(after, watermark)
            for row in rows:
                mark = self._table.mark(row)
                if mark not in self._seen:
                    self._seen.add(mark)
                    yield self._change(row)
            if len(rows) < self.config.batch_size:
                return
            after = self._table.mark(rows[-1])

    def _read_forward(self) -> Iterator[Change | Refused | Checkpoint | None]:
        """Publish every row past the watermark, a checkpoint after each batch, until caught up."""
        assert self._table is not None
        while True:
            started, started_at = time.perf_counter(), time.time()
            rows = self._rows(self._watermark, None)
            self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
            # caught up: what is published is as fresh as this query; behind: as old as the last row read
            self._fresh_as_of = started_at if len(rows) < self.config.batch_size else None
            for row in rows:
                mark = self._table.mark(row)
                if self._overlap:
                    self._seen.add(mark)
                yield self._change(row)
                self._watermark = mark
            if rows:
                yield from self._checkpoint()
            if len(rows) < self.config.batch_size:
                return

    def _checkpoint(self) -> Iterator[Checkpoint]:
        """The watermark and the key comparison's progress (nothing before the first row is read)."""
        if self._watermark is None:
            return
        state = {
            name: moment.isoformat()
            for name, moment in (("compared_at", self._compared_at), ("comparing_at", self._comparing_at))
            if moment is not None
        }
        yield Checkpoint(
            format_position(*self._watermark), snapshot_done=True, state=json.dumps(state) if state else None
        )

    def _comparison_due(self) -> bool:
        if self._compared_at is None:
            return True
        return (datetime.now(UTC) - self._compared_at).total_seconds() >= self.config.key_comparison_interval_s

    def _compare_keys(self) -> Iterator[Change | Checkpoint | None]:
        """Publish a delete for every live key the table no longer has."""
        assert self._engine is not None and self._table is not None
        at = self._comparing_at or datetime.now(UTC)
        with self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=_KEY_STREAM_ROWS).execute(self._table.keys())
            vanished = self._live.vanished(key_text(key) for key in result.scalars())
        if vanished and self._comparing_at is None:
            self._comparing_at = at
            yield from self._checkpoint()  # a crash from here on redoes this comparison with the same time
        for key in vanished:
            yield self._event("d", key, at, self._table.key_row(key), None)
            self._live.published(key, deleted=True)
        self._compared_at, self._comparing_at = at, None
        if vanished:
            log.info("source %s: %d rows of %s were deleted", self.name, len(vanished), self._table.where)
            yield from self._checkpoint()

    def _change(self, row: sa.Row[Any]) -> Change | Refused:
        assert self._table is not None
        moment, key = self._table.mark(row)
        soft = self.config.soft_delete_column
        try:
            values = self._table.values(row)
        except Unrepresentable as exc:
            if soft is None or not row._mapping[soft]:
                return self._refused(row, moment, key, exc)
            # the delete still reaches the targets, as postgres_cdc publishes a delete whose before-image holds one
            log.warning(
                "source %s: %s: a soft delete is published with its key column only: %s",
                self.name,
                self._table.where,
                exc,
            )
            self.metrics.errors.labels("source", "unrepresentable_before").inc()
            values = self._table.key_row(key)
        deleted = soft is not None and bool(row._mapping[soft])
        if self._compare:
            self._live.published(key, deleted)
        return self._event(
            "d" if deleted else "u", key, moment, values if deleted else None, None if deleted else values
        )

    def _refused(self, row: sa.Row[Any], moment: datetime, key: str, exc: Unrepresentable) -> Refused:
        """The row as text, for the DLQ, with a reason naming its table and refused columns."""
        assert self._table is not None
        reason = (
            f"{self._table.where}: {exc}. The row is in this letter with its columns as text (`seamline dlq show`); "
            f"once the value is fixed in the source and {self.config.timestamp_column} updated, the row is published"
        )
        return Refused(self._event("u", key, moment, None, self._table.text(row), typed=False), UNREPRESENTABLE, reason)

    def _event(
        self, op: Op, key: str, moment: datetime, before: Row | None, after: Row | None, typed: bool = True
    ) -> Change:
        """A change of the row with this key, at position "moment|key"; typed rows follow the table's row schema."""
        assert self._table is not None
        return Change(
            system=self.config.system,
            object=self._table.object,
            connector=CONNECTOR,
            op=op,
            key={self.config.key_column: key},
            before=before,
            after=after,
            position=format_position(moment, key),
            source_ts_ms=int(moment.timestamp() * 1000),
            row_schema=self._table.row_schema if typed else None,
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
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _moment(text: str | None) -> datetime | None:
    return None if text is None else utc(datetime.fromisoformat(text))
