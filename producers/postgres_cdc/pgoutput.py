"""Decoder of PostgreSQL's pgoutput logical replication messages (protocol version 1), values as text bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

PG_EPOCH_MS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)


class PgOutputError(ValueError):
    """A replication message that this decoder does not understand."""


Tuple = dict[str, bytes | None]
"""Column name -> the value's text bytes (None for NULL); an unchanged TOAST value is absent."""


@dataclass(frozen=True)
class Column:
    name: str
    is_key: bool
    type_oid: int
    typmod: int


@dataclass(frozen=True, eq=False)
class Relation:
    """A table as announced by the server before its first change in a session; compared by identity."""

    oid: int
    schema: str
    table: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_ts_ms: int
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_ts_ms: int


@dataclass(frozen=True)
class RowChange:
    """An insert, update or delete. `old` holds the key or full old row when the server sends one."""

    op: str
    relation: Relation
    new: Tuple | None
    old: Tuple | None = field(default=None)


@dataclass(frozen=True)
class Truncate:
    """A TRUNCATE of one or more tables: a bulk delete that carries no rows."""

    relations: tuple[Relation, ...]


def lsn_to_str(lsn: int) -> str:
    """The textual form PostgreSQL uses, e.g. 0/16B3748."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_from_str(text: str) -> int:
    """The integer of an LSN written as 'X/Y'."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_TEXT, _NULL, _UNCHANGED_TOAST = ord("t"), ord("n"), ord("u")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def byte(self) -> int:
        return self.take(">B")[0]

    def int16(self) -> int:
        return self.take(">h")[0]

    def int32(self) -> int:
        return self.take(">i")[0]

    def int64(self) -> int:
        return self.take(">q")[0]

    def cstring(self) -> str:
        end = self.data.index(b"\0", self.pos)
        text = self.data[self.pos : end].decode()
        self.pos = end + 1
        return text

    def tuple_data(self, relation: Relation) -> Tuple:
        # the hot loop of streaming: one pass over the bytes with locals, no per-field method calls
        data, pos = self.data, self.pos
        (count,) = _INT16.unpack_from(data, pos)
        pos += 2
        row: Tuple = {}
        for column in relation.columns[:count]:
            kind = data[pos]
            pos += 1
            if kind == _TEXT:
                (length,) = _INT32.unpack_from(data, pos)
                pos += 4
                row[column.name] = data[pos : pos + length]
                pos += length
            elif kind == _NULL:
                row[column.name] = None
            elif kind != _UNCHANGED_TOAST:  # an unchanged TOAST value is simply not sent
                raise PgOutputError(f"unknown tuple data kind {chr(kind)!r} for column {column.name}")
        self.pos = pos
        return row


class PgOutputDecoder:
    """Turns pgoutput messages into Begin, Commit, Relation, RowChange, Truncate; remembers relations."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}

    def decode(self, payload: bytes) -> Begin | Commit | Relation | RowChange | Truncate | None:
        reader = _Reader(payload)
        kind = chr(reader.byte())
        if kind == "B":
            final_lsn, commit_ts, xid = reader.take(">qqi")
            return Begin(final_lsn, PG_EPOCH_MS + commit_ts // 1000, xid)
        if kind == "C":
            _flags, commit_lsn, end_lsn, commit_ts = reader.take(">bqqq")
            return Commit(commit_lsn, end_lsn, PG_EPOCH_MS + commit_ts // 1000)
        if kind == "R":
            return self._relation(reader)
        if kind == "I":
            relation = self._known(reader.int32())
            reader.byte()  # 'N'
            return RowChange("c", relation, new=reader.tuple_data(relation))
        if kind == "U":
            relation = self._known(reader.int32())
            marker = chr(reader.byte())
            old = None
            if marker in "KO":
                old = reader.tuple_data(relation)
                marker = chr(reader.byte())
            return RowChange("u", relation, new=reader.tuple_data(relation), old=old)
        if kind == "D":
            relation = self._known(reader.int32())
            reader.byte()  # 'K' or 'O'
            return RowChange("d", relation, new=None, old=reader.tuple_data(relation))
        if kind == "T":
            count = reader.int32()
            reader.byte()  # options: cascade, restart identity
            return Truncate(tuple(self._known(reader.int32()) for _ in range(count)))
        if kind in "YOM":
            return None  # type, origin and logical messages carry no row changes
        raise PgOutputError(f"unknown pgoutput message {kind!r}")

    def _relation(self, reader: _Reader) -> Relation:
        oid = reader.int32()
        schema = reader.cstring()
        table = reader.cstring()
        reader.byte()  # replica identity setting
        columns = []
        for _ in range(reader.int16()):
            flags = reader.byte()
            name = reader.cstring()
            type_oid, typmod = reader.take(">ii")
            columns.append(Column(name, bool(flags & 1), type_oid, typmod))
        relation = self.relations[oid] = Relation(oid, schema, table, tuple(columns))
        return relation

    def _known(self, oid: int) -> Relation:
        relation = self.relations.get(oid)
        if relation is None:
            raise PgOutputError(f"change for relation {oid} before its Relation message")
        return relation
