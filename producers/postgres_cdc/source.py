"""PostgreSQL change capture: a consistent snapshot, then the logical replication stream (pgoutput).

Delivery: at-least-once. The slot's confirmed position advances only to the end of a transaction
whose every change Kafka acknowledged, so a restart re-sends at most the unconfirmed transactions.
Rows are typed (producers/pg_types.py); a column added or dropped while streaming gives the table a
new row schema, registered as a new BACKWARD-compatible version. A change holding a value its Avro type
cannot hold is yielded as Refused (for the runner's DLQ) with its columns as text, and capture goes on.
When the captured tables are idle, heartbeats confirm the server's WAL position so the slot never holds
WAL back. Incremental snapshots of one table (producers/pg_incremental.py) run while streaming continues.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Generator
from dataclasses import dataclass

import psycopg
import psycopg2
import psycopg2.extras
from psycopg import sql

from producers.postgres_cdc.config import PostgresCdcSource
from producers.postgres_cdc.incremental import IncrementalSnapshots, SignalTable
from producers.postgres_cdc.pg_types import SESSION_OPTIONS, ColumnType, PgTypes, Unrepresentable, read_as_text
from producers.postgres_cdc.pgoutput import (
    Begin,
    Commit,
    PgOutputDecoder,
    Relation,
    RowChange,
    Truncate,
    Tuple,
    lsn_from_str,
    lsn_to_str,
)
from seamline.connectors.source import (
    UNREPRESENTABLE,
    Checkpoint,
    Refused,
    Source,
    SourceSetupError,
    SourceTables,
    first_line,
    split_table,
)
from seamline.events import Change, Row
from seamline.metrics import Metrics
from seamline.rows import RowSchema
from seamline.sections import Problem

log = logging.getLogger(__name__)

CONNECTOR = "postgres_cdc"
_FETCH = 2000

TableName = tuple[str, str]


@dataclass(frozen=True)
class TableColumn:
    """A column as the catalog or a Relation message describes it."""

    name: str
    type_oid: int
    typmod: int


@dataclass(frozen=True)
class Shape:
    """One version of a table's columns: its row schema and a loader per column."""

    row_schema: RowSchema
    types: dict[str, ColumnType]

    def load(self, values: Tuple | None) -> Row | None:
        """Typed values from text bytes; Unrepresentable names every column whose value its type cannot hold."""
        if values is None:
            return None
        types = self.types
        try:
            return {name: None if raw is None else types[name].load(raw) for name, raw in values.items()}
        except Exception:
            raise Unrepresentable(self._refusals(values)) from None

    def _refusals(self, values: Tuple) -> str:
        """What is wrong with each column of a row that does not load (only Unrepresentable's messages are used:
        psycopg's quote the value)."""
        refusals = []
        for name, raw in values.items():
            if raw is None:
                continue
            try:
                self.types[name].load(raw)
            except Unrepresentable as exc:
                refusals.append(f"column {name} {exc}")
            except Exception as exc:
                refusals.append(
                    f"column {name} cannot be read as its Avro type ({type(exc).__name__}): ALTER the column to text "
                    "to publish PostgreSQL's text form, and report this as a seamline bug"
                )
        return "; ".join(refusals)


def as_text(values: Tuple | None) -> Row | None:
    """A row's text bytes as text: what a refused change carries, so its letter holds every value as written."""
    if values is None:
        return None
    return {name: None if raw is None else raw.decode(errors="backslashreplace") for name, raw in values.items()}


def connect(source: str, dsn: str) -> psycopg.Connection:
    """A catalog connection (autocommit) to the source's database; SourceSetupError saying what to check."""
    try:
        return psycopg.connect(dsn, autocommit=True, options=SESSION_OPTIONS)
    except psycopg.OperationalError as exc:
        raise SourceSetupError(
            f"source {source}: cannot connect to PostgreSQL ({first_line(exc)}); check the dsn's host, "
            "port, database, user and password"
        ) from exc


def catalog_columns(conn: psycopg.Connection, table: TableName) -> list[tuple[TableColumn, bool]]:
    """The table's columns in order, each with whether it is in the primary key; none if the table does not
    exist (or the role cannot see it)."""
    rows = conn.execute(
        """
        SELECT a.attname, a.atttypid, a.atttypmod, coalesce(a.attnum = ANY(i.indkey), false)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        table,
    ).fetchall()
    return [(TableColumn(name, oid, typmod), is_key) for name, oid, typmod, is_key in rows]


def _missing(table: TableName) -> str:
    return (
        f"table {table[0]}.{table[1]} does not exist (or the role cannot see it); fix 'tables' of the source or "
        "create the table"
    )


def source_tables(name: str, config: PostgresCdcSource) -> SourceTables:
    """The columns of each captured table (object = table name), and a problem for each table the database lacks."""
    columns: dict[str, frozenset[str]] = {}
    problems: list[Problem] = []
    with connect(name, config.dsn.get_secret_value()) as conn:
        for index, table in enumerate(map(split_table, config.tables)):
            found = catalog_columns(conn, table)
            if found:
                columns[table[1]] = frozenset(column.name for column, _ in found)
            else:
                problems.append((("tables", index), _missing(table)))
    return SourceTables(columns, problems)


class PostgresCdc(Source):
    """Captures the configured tables of one PostgreSQL database."""

    def __init__(self, name: str, config: PostgresCdcSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._dsn = config.dsn.get_secret_value()
        self._tables = [split_table(table) for table in config.tables]
        self._catalog: psycopg.Connection | None = None
        self._types: PgTypes | None = None
        self._replication: psycopg2.extensions.connection | None = None
        self._cursor: psycopg2.extras.ReplicationCursor | None = None
        self._snapshot: tuple[str, str] | None = None
        self._decoder = PgOutputDecoder()
        self._keys: dict[TableName, list[str]] = {}
        self._shapes: dict[tuple[TableName, tuple[TableColumn, ...]], Shape] = {}
        self._relation_shapes: dict[Relation, Shape] = {}  # by identity: the decoder keeps one object per version
        self._last_commit_ts_ms: int | None = None  # of the transaction being read; None when caught up
        self._confirmed = 0
        self._signals = SignalTable(split_table(config.signal_table))
        self._incremental: IncrementalSnapshots | None = None

    def setup(self, resume: Checkpoint | None) -> None:
        self._catalog = self._connect()
        self._types = PgTypes(self._catalog)
        for table in self._tables:
            self._keys[table] = self._key_columns(table)
        self._signals.ensure(self._catalog)
        self._ensure_publication(self._catalog)
        self._incremental = IncrementalSnapshots(
            self._catalog,
            self._signals,
            self._tables,
            self.config.snapshot_chunk_size,
            self._describe,
            resume.state if resume else None,
        )
        slot_exists = self._catalog.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.config.slot,)
        ).fetchone()
        if not slot_exists and resume is not None and resume.snapshot_done:
            raise SourceSetupError(
                f"source {self.name}: replication slot {self.config.slot} is gone (dropped, or invalidated by "
                f"max_slot_wal_keep_size) although changes up to {resume.position} were read from it: the changes "
                f"since then cannot be read. To start over from a new snapshot run `seamline source reset "
                f"{self.name}`, then start the source; rows deleted meanwhile reach no target, so run `seamline "
                f"reconcile --source {self.name}` once it has caught up"
            )
        if slot_exists and not (resume and resume.snapshot_done):
            log.info("slot %s exists but no finished snapshot is recorded: taking the snapshot again", self.config.slot)
            self._catalog.execute("SELECT pg_drop_replication_slot(%s)", (self.config.slot,))
            slot_exists = None
        try:
            self._replication = psycopg2.connect(
                self._dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection, options=SESSION_OPTIONS
            )
        except psycopg2.OperationalError as exc:
            raise SourceSetupError(
                f"source {self.name}: cannot open a replication connection ({first_line(exc)}); the role needs "
                "the REPLICATION attribute (ALTER ROLE ... REPLICATION) and pg_hba.conf must allow it"
            ) from exc
        self._cursor = self._replication.cursor()
        if not slot_exists:
            self._cursor.execute(f"CREATE_REPLICATION_SLOT {self.config.slot} LOGICAL pgoutput EXPORT_SNAPSHOT")
            created = self._cursor.fetchone()
            assert created is not None, "CREATE_REPLICATION_SLOT returns one row"
            _slot, consistent_point, snapshot_name, _plugin = created
            self._snapshot = (snapshot_name, consistent_point)
        elif resume is not None:
            self._confirmed = lsn_from_str(resume.position)

    def _connect(self) -> psycopg.Connection:
        return connect(self.name, self._dsn)

    def _ensure_publication(self, conn: psycopg.Connection) -> None:
        wanted = [*self._tables, self._signals.table]
        exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.config.publication,)).fetchone()
        published = {
            (schema, table)
            for schema, table in conn.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (self.config.publication,)
            )
        }
        missing = [table for table in wanted if table not in published]
        if exists and not missing:
            return
        tables = sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in (missing if exists else wanted))
        statement = "ALTER PUBLICATION {} ADD TABLE {}" if exists else "CREATE PUBLICATION {} FOR TABLE {}"
        try:
            conn.execute(sql.SQL(statement).format(sql.Identifier(self.config.publication), tables))
        except psycopg.errors.InsufficientPrivilege as exc:
            names = ", ".join(f"{schema}.{table}" for schema, table in wanted)
            raise SourceSetupError(
                f"source {self.name}: not allowed to create or extend publication {self.config.publication} "
                f"({first_line(exc)}); the table owner must run: CREATE PUBLICATION {self.config.publication} "
                f"FOR TABLE {names} (or ALTER PUBLICATION ... ADD TABLE for the missing ones)"
            ) from exc

    def _catalog_columns(self, table: TableName) -> list[tuple[TableColumn, bool]]:
        assert self._catalog is not None
        columns = catalog_columns(self._catalog, table)
        if not columns:
            raise SourceSetupError(f"source {self.name}: {_missing(table)}")
        return columns

    def _describe(self, table: TableName) -> tuple[tuple[TableColumn, ...], list[str]]:
        pairs = self._catalog_columns(table)
        return tuple(column for column, _ in pairs), [column.name for column, is_key in pairs if is_key]

    def _key_columns(self, table: TableName) -> list[str]:
        keys = [column.name for column, is_key in self._catalog_columns(table) if is_key]
        if not keys:
            raise SourceSetupError(
                f"source {self.name}: table {table[0]}.{table[1]} has no primary key; add one so changes can be keyed"
            )
        return keys

    def _shape(self, table: TableName, columns: tuple[TableColumn, ...]) -> Shape:
        shape = self._shapes.get((table, columns))
        if shape is None:
            assert self._types is not None
            types = {c.name: self._types.column(c.type_oid, c.typmod) for c in columns}
            schema = RowSchema.of(self.config.system, table[1], ((name, t.avro) for name, t in types.items()))
            shape = self._shapes[(table, columns)] = Shape(schema, types)
            log.info(
                "source %s: %s.%s has %d columns; row schema %s", self.name, *table, len(columns), schema.namespace
            )
        return shape

    def changes(self) -> Generator[Change | Refused | Checkpoint | None, None, None]:
        if self._snapshot is not None:
            snapshot_name, consistent_point = self._snapshot
            yield from self._read_snapshot(snapshot_name, consistent_point)
            self._confirmed = lsn_from_str(consistent_point)
            yield self._checkpoint(consistent_point)
            self._snapshot = None
        yield from self._stream()

    def _checkpoint(self, position: str) -> Checkpoint:
        assert self._incremental is not None
        return Checkpoint(position, snapshot_done=True, state=self._incremental.state())

    def _read_snapshot(self, snapshot_name: str, position: str) -> Generator[Change | Refused, None, None]:
        with psycopg.connect(self._dsn, options=SESSION_OPTIONS) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
            now = conn.execute("SELECT extract(epoch FROM now()) * 1000").fetchone()
            assert now is not None, "a SELECT without FROM returns one row"
            snapshot_ts_ms = int(now[0])
            for table in self._tables:
                columns = tuple(column for column, _ in self._catalog_columns(table))
                names = [column.name for column in columns]
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(name) for name in names), sql.Identifier(*table)
                )
                with conn.cursor(name=f"seamline_snapshot_{table[1]}", binary=False) as cursor:
                    read_as_text(cursor, (column.type_oid for column in columns))
                    cursor.execute(query)
                    while rows := cursor.fetchmany(_FETCH):
                        for values in rows:
                            raw: Tuple = dict(zip(names, values, strict=True))
                            yield self.snapshot_change(table, columns, raw, f"{position}:0", snapshot_ts_ms)

    def snapshot_change(
        self, table: TableName, columns: tuple[TableColumn, ...], raw: Tuple, position: str, ts_ms: int
    ) -> Change | Refused:
        """A snapshot read (op r) of one row given as text bytes."""
        return self._change("r", table, self._shape(table, columns), None, raw, position, ts_ms, snapshot=True)

    def _stream(self) -> Generator[Change | Refused | Checkpoint | None, None, None]:
        assert self._cursor is not None and self._replication is not None and self._incremental is not None
        self._cursor.start_replication(
            slot_name=self.config.slot,
            decode=False,
            options={"proto_version": "1", "publication_names": self.config.publication},
        )
        commit_lsn, commit_ts_ms, ordinal = "", 0, 0
        in_transaction = False
        last_heartbeat = time.monotonic()
        incremental = self._incremental
        while True:
            if not in_transaction:
                incremental.open_window_if_due()
            message = self._cursor.read_message()
            if message is None:
                # Not only when the socket is quiet: a server shutting down sends keepalive after keepalive until
                # the WAL's end is confirmed, and would wait for that forever.
                if not in_transaction and time.monotonic() - last_heartbeat >= self.config.heartbeat_interval_s:
                    last_heartbeat = time.monotonic()
                    heartbeat = self._heartbeat()
                    if heartbeat is not None:
                        yield heartbeat
                        yield None  # idle: the runner commits the heartbeat now
                ready, _, _ = select.select([self._replication], [], [], 0.5)
                if ready:
                    continue
                self._last_commit_ts_ms = None
                yield None
                continue
            decoded = self._decoder.decode(message.payload)
            if isinstance(decoded, Begin):
                commit_lsn, commit_ts_ms, ordinal = lsn_to_str(decoded.final_lsn), decoded.commit_ts_ms, 0
                self._last_commit_ts_ms = commit_ts_ms
                in_transaction = True
            elif isinstance(decoded, RowChange):
                ordinal += 1
                relation = decoded.relation
                table = (relation.schema, relation.table)
                position = f"{commit_lsn}:{ordinal}"
                if table == self._signals.table:
                    yield from incremental.on_signal(decoded.new, position, commit_ts_ms, self.snapshot_change)
                    continue
                incremental.on_change(table, decoded.old if decoded.new is None else decoded.new, self._keys[table])
                shape = self._relation_shapes.get(relation) or self._relation_shape(relation)
                yield self._change(decoded.op, table, shape, decoded.old, decoded.new, position, commit_ts_ms)
            elif isinstance(decoded, Truncate):
                for relation in decoded.relations:
                    ordinal += 1
                    yield self._truncate(relation, f"{commit_lsn}:{ordinal}", commit_ts_ms)
            elif isinstance(decoded, Commit):
                in_transaction = False
                self._confirmed = max(self._confirmed, decoded.end_lsn)
                yield self._checkpoint(lsn_to_str(decoded.end_lsn))
            elif isinstance(decoded, Relation) and (decoded.schema, decoded.table) in self._keys:
                # sent before the first change after ALTER TABLE too: the primary key may have changed
                self._keys[(decoded.schema, decoded.table)] = self._key_columns((decoded.schema, decoded.table))

    def _relation_shape(self, relation: Relation) -> Shape:
        columns = tuple(TableColumn(c.name, c.type_oid, c.typmod) for c in relation.columns)
        shape = self._relation_shapes[relation] = self._shape((relation.schema, relation.table), columns)
        return shape

    def _heartbeat(self) -> Checkpoint | None:
        """A checkpoint at the server's WAL position when every change before it was read (idle tables)."""
        assert self._cursor is not None
        self._cursor.send_feedback(reply=True)  # the server answers with a keepalive carrying its position
        wal_end = self._cursor.wal_end
        if wal_end <= self._confirmed:
            return None
        self._confirmed = wal_end
        return self._checkpoint(lsn_to_str(wal_end))

    def _truncate(self, relation: Relation, position: str, ts_ms: int) -> Change:
        """Every row of the table removed: op t, no key (consumers decide what a truncate means to them)."""
        table = (relation.schema, relation.table)
        columns = tuple(TableColumn(c.name, c.type_oid, c.typmod) for c in relation.columns)
        return Change(
            system=self.config.system,
            object=table[1],
            connector=CONNECTOR,
            op="t",
            key={},
            before=None,
            after=None,
            position=position,
            source_ts_ms=ts_ms,
            row_schema=self._shape(table, columns).row_schema,
        )

    def _change(
        self,
        op: str,
        table: TableName,
        shape: Shape,
        before: Tuple | None,
        after: Tuple | None,
        position: str,
        ts_ms: int,
        snapshot: bool = False,
    ) -> Change | Refused:
        image = after if after is not None else before or {}
        key = {name: (image.get(name) or b"").decode() for name in self._keys[table]}
        if after is not None and len(after) < len(shape.types):
            after = self._fill_unchanged(table, shape, before, after)
        try:
            typed_after = shape.load(after)
            typed_before = self._before(table, shape, before)
        except Unrepresentable as exc:
            change = Change(
                system=self.config.system,
                object=table[1],
                connector=CONNECTOR,
                op=op,  # type: ignore[arg-type]
                key=key,
                before=as_text(before),
                after=as_text(after),
                position=position,
                source_ts_ms=ts_ms,
                snapshot=snapshot,
            )
            reason = (
                f"{table[0]}.{table[1]}: {exc}. The change is in this letter with its columns as PostgreSQL's text "
                "(`seamline dlq show`); once the value is fixed in the source, the row's next change is published"
            )
            return Refused(change, UNREPRESENTABLE, reason)
        return Change(
            system=self.config.system,
            object=table[1],
            connector=CONNECTOR,
            op=op,  # type: ignore[arg-type]
            key=key,
            before=typed_before,
            after=typed_after,
            position=position,
            source_ts_ms=ts_ms,
            snapshot=snapshot,
            row_schema=shape.row_schema,
        )

    def _before(self, table: TableName, shape: Shape, before: Tuple | None) -> Row | None:
        """The typed before-image; with a value its type cannot hold, its key columns only (as REPLICA IDENTITY
        DEFAULT sends), so that the update fixing that value, or the row's delete, is published."""
        try:
            return shape.load(before)
        except Unrepresentable as exc:
            assert before is not None, "a missing image loads"
            keys = self._keys[table]
            reduced = shape.load({name: raw if name in keys else None for name, raw in before.items()})
            log.warning(
                "source %s: %s.%s: a before-image is published with its key columns only: %s",
                self.name,
                *table,
                exc,
            )
            self.metrics.errors.labels("source", "unrepresentable_before").inc()
            return reduced

    def _fill_unchanged(self, table: TableName, shape: Shape, before: Tuple | None, after: Tuple) -> Tuple:
        """Unchanged TOAST values are not sent; take them from a full before-image when there is one."""
        missing = [name for name in shape.types if name not in after]
        if before is not None and all(name in before for name in missing):
            return {**after, **{name: before[name] for name in missing}}
        log.warning(
            "source %s: %s.%s: unchanged large values of %s were not sent by the server and are published as null; "
            "ALTER TABLE ... REPLICA IDENTITY FULL so they are",
            self.name,
            *table,
            ", ".join(missing),
        )
        self.metrics.errors.labels("source", "unchanged_toast").inc()
        return {**after, **dict.fromkeys(missing)}

    def commit(self, checkpoint: Checkpoint) -> None:
        if self._cursor is not None and self._snapshot is None:
            self._cursor.send_feedback(flush_lsn=lsn_from_str(checkpoint.position), reply=True)

    def observe_lag(self) -> None:
        if self._catalog is None:
            return
        row = self._catalog.execute(
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
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None


def request_snapshot(config: PostgresCdcSource, table: str) -> str:
    """Ask the running source to snapshot `table` incrementally; returns the signal's id."""
    wanted = split_table(table)
    if wanted not in [split_table(name) for name in config.tables]:
        raise SourceSetupError(f"table {table} is not captured by this source; it captures {', '.join(config.tables)}")
    try:
        with psycopg.connect(config.dsn.get_secret_value(), autocommit=True) as conn:
            return SignalTable(split_table(config.signal_table)).request_snapshot(conn, wanted)
    except psycopg.Error as exc:
        raise SourceSetupError(
            f"cannot write the snapshot request into {config.signal_table} ({first_line(exc)}); start the source "
            "once so it creates the signal table, and check the dsn and INSERT rights"
        ) from exc
