"""The polled table of a sql_poll source: connection, reflection and checks, typed rows, keyset queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from producers.sql_poll.config import SQL_POLL_SCHEMES, SqlPollSource
from producers.sql_poll.pg_loaders import load_leniently
from producers.sql_poll.sql_types import (
    ColumnType,
    Unrepresentable,
    column_type,
    is_boolean,
    is_timestamp,
    key_text,
    key_value,
    utc,
    value_text,
)
from seamline.connectors.source import SourceSetupError, SourceTables, first_line
from seamline.events import Row
from seamline.rows import RowSchema

log = logging.getLogger(__name__)

# Dialects whose planners use an index on (ts, key) for the row-value comparison `(a, b) > (x, y)`.
# Others get `a > x OR (a = x AND b > y)`: MariaDB accepts row values but answers them with a full scan
# and a sort, while it reads the expanded form as an index range.
_ROW_VALUES = {"postgresql", "sqlite"}
# The session time zone is UTC, so that timestamps without a zone are UTC in both directions.
_UTC_SESSION = {
    "postgresql": "SET TIME ZONE 'UTC'",
    "mysql": "SET time_zone = '+00:00'",
    "mariadb": "SET time_zone = '+00:00'",  # mariadb+pymysql:// URLs name their dialect so
}
# Dialects that store dates with a zero month or day ('2024-00-15', '0000-00-00'), which have no position.
_ZERO_DATES = {"mysql", "mariadb"}
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
"""The timestamps a position can hold: Python's."""


class UnsupportedUrl(SourceSetupError, ValueError):
    """The dsn names no installed SQLAlchemy dialect and driver."""


class CannotConnect(SourceSetupError, ConnectionError):
    """The database refused or did not answer the first connection."""


class TableNotFound(SourceSetupError, LookupError):
    """The table, or a configured column of it, does not exist."""


class UnfitColumn(SourceSetupError, TypeError):
    """A configured column has a type the setting cannot use."""


def connect_engine(source: str, dsn: str) -> sa.Engine:
    """An engine for the source's URL whose connections run in UTC, checked by connecting once. On PostgreSQL its
    connections read dates and times Python cannot hold without failing (producers/sql_poll/pg_loaders.py)."""
    try:
        url = sa.make_url(dsn)
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError):
        scheme = dsn.partition("://")[0]
        raise UnsupportedUrl(
            f"source {source}: unsupported database URL scheme {scheme!r} in dsn: "
            f"use one of {', '.join(SQL_POLL_SCHEMES)}"
        ) from None
    statement = _UTC_SESSION.get(engine.dialect.name)
    if statement is not None:

        @sa.event.listens_for(engine, "connect")
        def _utc_session(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # PostgreSQL would undo the SET with the first rollback
            if engine.dialect.driver == "psycopg":
                load_leniently(dbapi_connection)

    try:
        engine.connect().close()
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        cause = first_line(exc.orig or exc)
        raise CannotConnect(
            f"source {source}: cannot connect to {url.render_as_string(hide_password=True)} ({cause}): "
            "check host, port, database, user and password in dsn"
        ) from None
    return engine


def reflect(source: str, engine: sa.Engine, config: SqlPollSource) -> PolledTable:
    """The configured table, refused with one clear line when it or a configured column is missing or unfit."""
    schema, _, name = config.table.rpartition(".")
    where = f"{schema or sa.inspect(engine).default_schema_name}.{name}"
    try:
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
    except sa_exc.NoSuchTableError:
        raise TableNotFound(
            f"source {source}: table {where} does not exist: fix 'table' of the source or create the table"
        ) from None
    columns = {column.name: column for column in table.columns}
    wanted = {
        "key_column": config.key_column,
        "timestamp_column": config.timestamp_column,
        "soft_delete_column": config.soft_delete_column,
    }
    missing = [f"{setting} {column!r}" for setting, column in wanted.items() if column and column not in columns]
    if missing:
        raise TableNotFound(
            f"source {source}: table {where} has no column {', no column '.join(missing)} "
            f"(its columns: {', '.join(columns)}): set the setting to an existing column or add the column"
        )
    ts = columns[config.timestamp_column]
    if not is_timestamp(ts.type):
        raise UnfitColumn(
            f"source {source}: timestamp_column {ts.name!r} of {where} is {ts.type.compile(engine.dialect)}: "
            "it must be a timestamp (DATETIME(6) on MariaDB) column set on every insert and update"
        )
    soft = config.soft_delete_column
    if soft is not None and not is_boolean(columns[soft].type):
        raise UnfitColumn(
            f"source {source}: soft_delete_column {soft!r} of {where} is "
            f"{columns[soft].type.compile(engine.dialect)}, not boolean"
        )
    nullable = [c.name for c in (columns[config.key_column], ts) if c.nullable]
    if nullable:
        log.warning("source %s: rows of %s with NULL %s are not captured", source, where, " or ".join(nullable))
    types = {column.name: column_type(column.type) for column in table.columns}
    row_schema = RowSchema.of(config.system, name, [(column, kind.avro) for column, kind in types.items()])
    return PolledTable(
        table,
        where,
        config.key_column,
        config.timestamp_column,
        types,
        row_schema,
        row_values=engine.dialect.name in _ROW_VALUES,
        zero_dates=engine.dialect.name in _ZERO_DATES,
    )


def source_tables(name: str, config: SqlPollSource) -> SourceTables:
    """The polled table's columns (object = table name), or the problem `reflect` finds with it."""
    engine = connect_engine(name, config.dsn.get_secret_value())
    try:
        polled = reflect(name, engine, config)
    except SourceSetupError as exc:
        return SourceTables({}, [(("table",), str(exc))])
    finally:
        engine.dispose()
    return SourceTables({config.topic_objects()[0]: frozenset(polled.types)}, [])


@dataclass(frozen=True)
class PolledTable:
    """A reflected table with its typed columns, and the queries sql_poll runs on it."""

    table: sa.Table
    where: str
    key_column: str
    timestamp_column: str
    types: dict[str, ColumnType]
    row_schema: RowSchema
    row_values: bool
    zero_dates: bool

    @property
    def object(self) -> str:
        return self.table.name

    def _bound(self, moment: datetime, key: str | None) -> tuple[Any, Any]:
        """A mark as parameters of the timestamp's and key's own column types."""
        ts_type = self.table.c[self.timestamp_column].type
        stamp = moment if getattr(ts_type, "timezone", False) else moment.astimezone(UTC).replace(tzinfo=None)
        ts = sa.bindparam(None, stamp, type_=ts_type)
        key_type = self.table.c[self.key_column].type
        return ts, None if key is None else sa.bindparam(None, key_value(key_type, key), type_=key_type)

    def _compare(self, moment: datetime, key: str, after: bool) -> sa.ColumnElement[bool]:
        """(ts, key) > mark when after, else (ts, key) <= mark."""
        ts, column = self.table.c[self.timestamp_column], self.table.c[self.key_column]
        at, key_param = self._bound(moment, key)
        if self.row_values:
            pair = sa.tuple_(ts, column)
            return pair > sa.tuple_(at, key_param) if after else pair <= sa.tuple_(at, key_param)
        if after:
            return sa.or_(ts > at, sa.and_(ts == at, column > key_param))
        return sa.or_(ts < at, sa.and_(ts == at, column <= key_param))

    def page(self, after: tuple[datetime, str | None] | None, upto: tuple[datetime, str] | None, limit: int) -> Any:
        """Rows strictly after `after` (at or after its timestamp if its key is None), at or before `upto`,
        in (timestamp, key) order, at most limit."""
        ts, key = self.table.c[self.timestamp_column], self.table.c[self.key_column]
        conditions = [*self._positionable(), key.is_not(None)]
        if after is not None and after[1] is None:
            conditions.append(ts >= self._bound(after[0], None)[0])
        elif after is not None and after[1] is not None:
            conditions.append(self._compare(after[0], after[1], after=True))
        if upto is not None:
            conditions.append(self._compare(upto[0], upto[1], after=False))
        return sa.select(self.table).where(*conditions).order_by(ts, key).limit(limit)

    def _positionable(self) -> list[sa.ColumnElement[bool]]:
        """The timestamp is one a position can hold: within Python's years 1 to 9999, with no zero month or day."""
        ts = self.table.c[self.timestamp_column]
        within = [ts >= self._bound(EARLIEST, None)[0], ts <= self._bound(LATEST, None)[0]]
        return within + ([sa.extract("month", ts) > 0, sa.extract("day", ts) > 0] if self.zero_dates else [])

    def unpositioned(self) -> Any:
        """How many rows have a timestamp no position can hold (±infinity, BC, after 9999, a zero date): never read."""
        ts = self.table.c[self.timestamp_column]
        return (
            sa.select(sa.func.count())
            .select_from(self.table)
            .where(ts.is_not(None), sa.not_(sa.and_(*self._positionable())))
        )

    def keys(self) -> Any:
        """Every key of the table (for the key comparison)."""
        key = self.table.c[self.key_column]
        return sa.select(key).where(key.is_not(None))

    def mark(self, row: sa.Row[Any]) -> tuple[datetime, str]:
        """The (timestamp, key text) of a row read by page()."""
        mapping = row._mapping
        return utc(mapping[self.timestamp_column]), key_text(mapping[self.key_column])

    def values(self, row: sa.Row[Any]) -> Row:
        """The row as Python values of its Avro types; Unrepresentable names every column whose value its type
        cannot hold."""
        values: Row = {}
        refusals = []
        for name, value in row._mapping.items():
            try:
                values[name] = None if value is None else self.types[name].convert(value)
            except Unrepresentable as exc:
                refusals.append(f"column {name} {exc}")
        if refusals:
            raise Unrepresentable("; ".join(refusals))
        return values

    @staticmethod
    def text(row: sa.Row[Any]) -> Row:
        """The row as text, as a refused change carries it."""
        return {name: None if value is None else value_text(value) for name, value in row._mapping.items()}

    def key_row(self, key: str) -> Row:
        """The row of a deleted key: the key column alone."""
        kind = self.types[self.key_column]
        return {self.key_column: kind.convert(key_value(self.table.c[self.key_column].type, key))}
