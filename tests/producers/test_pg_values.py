"""Every value of every column type postgres_cdc supports reaches its topic as documented, or the source's DLQ.

Edge values of each type (docs/sources.md, "Values at the edges") are inserted before the source starts (the
snapshot) and while it streams, one value a row and in random rows (seeded; SEAMLINE_TEST_SEED repeats a run),
then rows are fixed, spoiled and deleted. Through the real `seamline source run` process: every change is on
`src.erp.edge` decoding to the documented value, or in `dlq.source.erp` with its row as PostgreSQL's text and a
reason naming exactly its refused columns; none is lost, no value is logged, and the process never exits.
"""

from __future__ import annotations

import math
import os
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from producers.postgres_cdc.pg_types import SESSION_OPTIONS
from seamline.config import KafkaConfig
from seamline.dead_letters.letters import DeadLetterError, Filter, letters, republish
from seamline.dead_letters.writer import read_headers
from seamline.operations.local_pipeline import drop_slot
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic, source_topic
from tests.conftest import wait_until
from tests.replication import wait_streaming


@dataclass(frozen=True)
class Dead:
    """A value the source refuses; `why` is what the letter's reason says of its column."""

    why: str


TEXT = object()
"""The value is published as PostgreSQL's text form of it (string columns)."""
BEYOND = "BC or after year 9999"


def f32(value: float) -> float:
    """A float as Avro's float (32 bits) carries it."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


TYPES = """
CREATE TYPE mood AS ENUM ('happy', 'so so', 'ünï 😀');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE DOMAIN price AS numeric(5, 2);
CREATE TYPE pair AS (a integer, b text);
"""

# column -> (type, [(literal, what it becomes)])
COLUMNS: dict[str, tuple[str, list[tuple[str, Any]]]] = {
    "flag": ("boolean", [("true", True), ("false", False)]),
    "small": ("smallint", [("-32768", -32768), ("32767", 32767)]),
    "whole": ("integer", [("-2147483648", -(2**31)), ("2147483647", 2**31 - 1)]),
    "big": ("bigint", [("-9223372036854775808", -(2**63)), ("9223372036854775807", 2**63 - 1)]),
    "ratio": (
        "real",
        [
            ("NaN", math.nan),
            ("Infinity", math.inf),
            ("-Infinity", -math.inf),
            ("-0", -0.0),
            ("3.4028235e38", f32(3.4028235e38)),
            ("1.4e-45", f32(1.4e-45)),
        ],
    ),
    "wide": (
        "double precision",
        [
            ("NaN", math.nan),
            ("Infinity", math.inf),
            ("-Infinity", -math.inf),
            ("-0", -0.0),
            ("1.7976931348623157e308", 1.7976931348623157e308),
            ("5e-324", 5e-324),
        ],
    ),
    "amount_due": (
        "numeric(7, 2)",
        [
            ("99999.99", Decimal("99999.99")),
            ("-99999.99", Decimal("-99999.99")),
            ("0", Decimal("0.00")),
            ("NaN", Dead("is NaN, which an Avro decimal cannot hold")),
        ],
    ),
    "huge": ("numeric(1000, 500)", [("9" * 500 + "." + "9" * 500, Decimal("9" * 500 + "." + "9" * 500))]),
    "exact": (
        "numeric",
        [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1e1000", "1" + "0" * 1000)]
        + [("-0." + "0" * 16382 + "1", "-0." + "0" * 16382 + "1")],
    ),
    "born": (
        "date",
        [
            ("0001-01-01", date(1, 1, 1)),
            ("9999-12-31", date(9999, 12, 31)),
            ("infinity", date.max),
            ("-infinity", date.min),
            ("0044-03-15 BC", Dead(f"is a date {BEYOND}")),
            ("10000-01-01", Dead(f"is a date {BEYOND}")),
        ],
    ),
    "alarm": (
        "time",
        [
            ("00:00:00", time(0)),
            ("23:59:59.999999", time(23, 59, 59, 999999)),
            ("24:00:00", Dead("is the end of a day (hour 24)")),
        ],
    ),
    "alarm_tz": ("timetz", [("24:00:00+14", TEXT), ("00:00:00-15:59", TEXT)]),
    "local": (
        "timestamp",
        [
            ("0001-01-01 00:00:00", datetime(1, 1, 1)),
            ("9999-12-31 23:59:59.999999", datetime.max),
            ("infinity", datetime.max),
            ("-infinity", datetime.min),
            ("0001-01-01 00:00:00 BC", Dead(f"is a timestamp {BEYOND}")),
            ("275760-09-13 00:00:00", Dead(f"is a timestamp {BEYOND}")),
        ],
    ),
    "moment": (
        "timestamptz",
        [
            ("0001-01-01 00:00:00+00", datetime(1, 1, 1, tzinfo=UTC)),
            ("2024-02-29 13:14:15.5+02", datetime(2024, 2, 29, 11, 14, 15, 500000, tzinfo=UTC)),
            ("infinity", datetime.max.replace(tzinfo=UTC)),
            ("-infinity", datetime.min.replace(tzinfo=UTC)),
            ("0044-03-15 12:00:00+00 BC", Dead(f"is a timestamp {BEYOND} in UTC")),
            ("9999-12-31 23:00:00-05", Dead(f"is a timestamp {BEYOND} in UTC")),
            ("0001-01-01 00:30:00+01", Dead(f"is a timestamp {BEYOND} in UTC")),
        ],
    ),
    "ident": (
        "uuid",
        [
            ("00000000-0000-0000-0000-000000000000", uuid.UUID(int=0)),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", uuid.UUID(int=2**128 - 1)),
        ],
    ),
    "doc": ("jsonb", [("{}", TEXT), ('"ünïcødé 😀"', TEXT), ("null", TEXT), ('{"n": [1.50, -0, 1e-3]}', TEXT)]),
    "raw": ("json", [('"\\u0000"', TEXT), ('{"a":1,   "a":2}', TEXT)]),
    "data": ("bytea", [("\\x", b""), ("\\x00ff", b"\x00\xff"), ("\\x" + bytes(range(256)).hex(), bytes(range(256)))]),
    "note": (
        "text",
        [("", ""), ("Ωmega 😀 עברית e\u0301 \t\n\\", "Ωmega 😀 עברית e\u0301 \t\n\\"), ("x" * 10000, "x" * 10000)],
    ),
    "code": ("varchar(10)", [("ünï", "ünï")]),
    "letter": ("char(3)", [("a", "a  ")]),
    "tags": (
        "text[]",
        [
            ("{}", []),
            ("{NULL}", [None]),
            ('{"a,b","NULL",""}', ["a,b", "NULL", ""]),
            ("[0:1]={x,y}", ["x", "y"]),
            ("{{a,b},{c,d}}", Dead("is an array of more than one dimension")),
        ],
    ),
    "counts": ("integer[]", [("{-2147483648,2147483647,NULL}", [-(2**31), 2**31 - 1, None])]),
    "days": (
        "date[]",
        [
            ("{infinity,-infinity}", [date.max, date.min]),
            ('{"0044-03-15 BC"}', Dead(f"has an element that is a date {BEYOND}")),
        ],
    ),
    "prices": (
        "numeric(5, 2)[]",
        [
            ("{999.99,-999.99}", [Decimal("999.99"), Decimal("-999.99")]),
            ("{1,NaN}", Dead("has an element that is NaN")),
        ],
    ),
    "feeling": ("mood", [("happy", "happy"), ("so so", "so so"), ("ünï 😀", "ünï 😀")]),
    "feelings": ("mood[]", [("{}", []), ('{"so so","ünï 😀"}', ["so so", "ünï 😀"])]),
    "amount": ("positive", [("1", 1), ("2147483647", 2**31 - 1)]),
    "unit_price": ("price", [("999.99", Decimal("999.99")), ("NaN", Dead("is NaN"))]),
    "cash": ("money", [("-92233720368547758.08", TEXT), ("92233720368547758.07", TEXT)]),
    "span": ("interval", [("-178000000 years", TEXT), ("1 mon -1 day 00:00:00.000001", TEXT)]),
    "address": ("inet", [("::1/128", TEXT), ("255.255.255.255", TEXT)]),
    "during": ("tstzrange", [("empty", TEXT), ("[-infinity,infinity)", TEXT), ("(,)", TEXT)]),
    "couple": ("pair", [("(,)", TEXT), ('(1,"a ""b"", c")', TEXT)]),
}
NAMES = list(COLUMNS)
Row = dict[str, str | None]


def rows(rng: random.Random, first_id: int, random_rows: int) -> dict[int, Row]:
    """One row per edge value (every other column NULL), then rows of random edge values, a refused value rare."""
    made: list[Row] = [{name: literal} for name, (_, values) in COLUMNS.items() for literal, _ in values]
    for _ in range(random_rows):
        row: Row = {}
        for name, (_, values) in COLUMNS.items():
            clean = [literal for literal, becomes in values if not isinstance(becomes, Dead)]
            dead = [literal for literal, becomes in values if isinstance(becomes, Dead)]
            roll = rng.random()
            row[name] = rng.choice(dead) if dead and roll < 0.02 else None if roll < 0.2 else rng.choice(clean)
        made.append(row)
    return {first_id + n: {name: row.get(name) for name in NAMES} for n, row in enumerate(made)}


def becomes(name: str, literal: str) -> Any:
    return dict(COLUMNS[name][1])[literal]


def refused_columns(row: Row) -> set[str]:
    return {name for name, literal in row.items() if literal is not None and isinstance(becomes(name, literal), Dead)}


def insert(conn: psycopg.Connection, batch: dict[int, Row]) -> None:
    casts = ", ".join(f"%s::{kind}" for kind, _ in COLUMNS.values())
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO edge (id, {', '.join(NAMES)}) VALUES (%s, {casts})",
            [(key, *row.values()) for key, row in batch.items()],
        )


@dataclass
class Expected:
    """What one change must become: published with these images, or a letter with this row as text."""

    op: str
    key: int
    before: Row | None
    after: Row | None
    key_only_before: bool = False

    @property
    def refused(self) -> set[str]:
        return refused_columns(self.after) if self.after is not None else set()


class Oracle:
    """PostgreSQL's text form of each literal (what a string column or a letter holds), asked once."""

    def __init__(self, dsn: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True, options=SESSION_OPTIONS)
        self._texts: dict[tuple[str, str], str] = {}

    def text(self, name: str, literal: str | None) -> str | None:
        if literal is None:
            return None
        if (name, literal) not in self._texts:
            found = self._conn.execute(f"SELECT concat(%s::{COLUMNS[name][0]})", (literal,)).fetchone()
            assert found is not None
            self._texts[(name, literal)] = found[0]
        return self._texts[(name, literal)]

    def row_text(self, key: int, row: Row | None) -> dict[str, str | None] | None:
        """The row as a letter holds it."""
        if row is None:
            return None
        return {"id": str(key), **{name: self.text(name, row[name]) for name in NAMES}}

    def typed(self, key: int, row: Row | None, key_only: bool = False) -> dict[str, Any] | None:
        """The row as its topic's event decodes, or its key columns only."""
        if row is None:
            return None
        values: dict[str, Any] = {"id": key}
        for name in NAMES:
            literal = row[name]
            value = None if literal is None or key_only else becomes(name, literal)
            values[name] = self.text(name, literal) if value is TEXT else value
        return values

    def close(self) -> None:
        self._conn.close()


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type, NaN equal to NaN, -0.0 told from 0.0 and 0.0 from 0.00."""
    if isinstance(expected, Decimal):
        return isinstance(actual, Decimal) and actual.as_tuple() == expected.as_tuple()
    if isinstance(expected, float):
        if math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(same, actual, expected))
    return bool(actual == expected) and type(actual) is type(expected)


def differences(actual: dict[str, Any] | None, expected: dict[str, Any] | None) -> list[str]:
    """Columns that differ, with their types only (a value can be 10,000 characters long)."""
    if actual is None or expected is None:
        return [] if actual is expected else [f"an image is {'missing' if actual is None else 'unexpected'}"]
    return [
        f"{name}: {type(actual.get(name)).__name__} != {type(value).__name__}"
        for name, value in expected.items()
        if not same(actual.get(name), value)
    ]


@pytest.fixture
def edge_source(stack: StackInfo, database: str, kafka: KafkaConfig, tmp_path: Path) -> Iterator[Supervisor]:
    """The `seamline source run erp` process (not started) capturing the table `edge`, one column per type."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(TYPES)
        columns = ", ".join(f"{name} {kind}" for name, (kind, _) in COLUMNS.items())
        conn.execute(f"CREATE TABLE edge (id integer PRIMARY KEY, {columns})")
        conn.execute("ALTER TABLE edge REPLICA IDENTITY FULL")
    slot = f"slot_{uuid.uuid4().hex[:12]}"
    source = {
        "kind": "postgres_cdc",
        "dsn": database,
        "system": "erp",
        "tables": ["edge"],
        "slot": slot,
        "publication": f"pub_{uuid.uuid4().hex[:12]}",
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(mode="json", include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    config_path = tmp_path / "seamline.yaml"
    config_path.write_text(yaml.safe_dump({"kafka": kafka_section, "sources": {"erp": source}}))
    supervisor = Supervisor(config_path, tmp_path / "logs", {"source": ["source", "run", "erp"]})
    yield supervisor
    supervisor.stop_all()
    drop_slot(stack.postgres_dsn, slot)


def make_changes(conn: psycopg.Connection, rng: random.Random, streamed: dict[int, Row]) -> list[Expected]:
    """Insert the rows in transactions of 25, then fix refused values (their before-images still hold them), spoil
    clean rows, and delete rows of both kinds; what each change must become."""
    items = list(streamed.items())
    for start in range(0, len(items), 25):
        insert(conn, dict(items[start : start + 25]))
    expected = [Expected("c", key, None, row) for key, row in items]
    spoiled = [key for key, row in items if refused_columns(row)]
    clean = [key for key, row in items if not refused_columns(row)]
    fixes, spoils = rng.sample(spoiled, 3), rng.sample(clean, 2)
    deletes = rng.sample(sorted(set(spoiled) - set(fixes)), 2) + rng.sample(sorted(set(clean) - set(spoils)), 2)
    for key in fixes:
        row = streamed[key]
        refused = refused_columns(row)
        conn.execute(f"UPDATE edge SET {', '.join(f'{name} = NULL' for name in refused)} WHERE id = %s", (key,))
        expected.append(Expected("u", key, row, {**row, **dict.fromkeys(refused)}, key_only_before=True))
    for key in spoils:
        conn.execute("UPDATE edge SET born = %s::date WHERE id = %s", ("0044-03-15 BC", key))
        expected.append(Expected("u", key, streamed[key], {**streamed[key], "born": "0044-03-15 BC"}))
    for key in deletes:
        conn.execute("DELETE FROM edge WHERE id = %s", (key,))
        expected.append(Expected("d", key, streamed[key], None, key_only_before=bool(refused_columns(streamed[key]))))
    return expected


def check_published(event: dict[str, Any], change: Expected, oracle: Oracle) -> list[str]:
    """The event decodes to the documented value of every column, before and after."""
    after = differences(event["after"], oracle.typed(change.key, change.after))
    before = differences(event["before"], oracle.typed(change.key, change.before, change.key_only_before))
    return [f"after {d}" for d in after] + [f"before {d}" for d in before]


def check_letter(event: dict[str, Any], headers: dict[str, str], change: Expected, oracle: Oracle) -> list[str]:
    """The letter holds the row as PostgreSQL's text, and its reason names exactly the refused columns and why,
    without any refused value."""
    wrong = []
    if event["after"] != oracle.row_text(change.key, change.after):
        wrong.append("the letter's after is not the row as PostgreSQL's text")
    if event["before"] != oracle.row_text(change.key, change.before):
        wrong.append("the letter's before is not the row as PostgreSQL's text")
    reason = headers["error.reason"]
    named = {name for name in NAMES if f"column {name} " in reason}
    if not reason.startswith("public.edge: column ") or named != change.refused:
        wrong.append(f"the reason names {sorted(named)}, refused {sorted(change.refused)}: {reason}")
    assert change.after is not None
    for name in change.refused:
        why = becomes(name, str(change.after[name])).why
        if f"column {name} {why}" not in reason:
            wrong.append(f"the reason does not say that column {name} {why}")
    if [text for text in refused_texts(oracle) if text in reason]:
        wrong.append(f"the reason quotes a value: {reason}")
    wanted = {"stage": "source.erp", "error.class": "UnrepresentableValue", "original.topic": "src.erp.edge"}
    wrong += [f"header {k} is {headers.get(k)}" for k, v in wanted.items() if not headers.get(k, "").endswith(v)]
    return wrong


def refused_texts(oracle: Oracle) -> list[str]:
    """The text of each refused value long enough not to be a word of a reason (NaN is one)."""
    texts = [
        oracle.text(name, literal)
        for name, (_, values) in COLUMNS.items()
        for literal, to in values
        if isinstance(to, Dead)
    ]
    return [text for text in texts if text is not None and len(text) > 5]


def test_every_value_is_published_as_documented_or_dead_lettered_and_the_source_never_exits(
    edge_source: Supervisor, database: str, kafka: KafkaConfig, stack: StackInfo
) -> None:
    seed = int(os.environ.get("SEAMLINE_TEST_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    snapshot_rows, streamed_rows = rows(rng, 1, 40), rows(rng, 10_001, 40)
    expected = [Expected("r", key, None, row) for key, row in snapshot_rows.items()]
    slot = yaml.safe_load(edge_source.config_path.read_text())["sources"]["erp"]["slot"]
    with psycopg.connect(database, autocommit=True) as conn:
        insert(conn, snapshot_rows)
        edge_source.start("source")
        wait_streaming(stack.postgres_dsn, slot, edge_source)
        expected += make_changes(conn, rng, streamed_rows)

    topic, dlq = source_topic(kafka, "erp", "edge"), dlq_topic(kafka, "source.erp")
    serde = AvroSerde(kafka)
    published: dict[tuple[str, int], list[dict[str, Any]]] = {}
    dead: dict[tuple[str, int], list[tuple[dict[str, Any], dict[str, str]]]] = {}

    def all_in() -> bool:
        assert not edge_source.crashed(), edge_source.log_tail("source")
        published.clear()
        dead.clear()
        for message in read_to_end(kafka, topic):
            event = serde.decode(topic, message.value())
            key = int(serde.decode(topic, message.key(), key=True)["columns"]["id"])
            published.setdefault((event["op"], key), []).append(event)
        for message in read_to_end(kafka, dlq):
            event = serde.decode(dlq, message.value())
            key = int(serde.decode(dlq, message.key(), key=True)["columns"]["id"])
            headers = read_headers(message.headers())
            dead.setdefault((event["op"], key), []).append((event, headers))
        return sum(map(len, published.values())) + sum(map(len, dead.values())) >= len(expected)

    wait_until(all_in, 60, f"{len(expected)} changes on the topic or in the DLQ (seed {seed})", interval=1.0)
    oracle = Oracle(database)
    try:
        wrong: list[str] = []
        for change in expected:
            name = f"{change.op} of row {change.key}"
            events, letters_of = published.pop((change.op, change.key), []), dead.pop((change.op, change.key), [])
            if change.refused and (events or len(letters_of) != 1):
                wrong.append(f"{name}: {len(events)} events and {len(letters_of)} letters, expected one letter")
            elif change.refused:
                wrong += [f"{name}: {w}" for w in check_letter(*letters_of[0], change, oracle)]
            elif letters_of or len(events) != 1:
                wrong.append(f"{name}: {len(events)} events and {len(letters_of)} letters, expected one event")
            else:
                wrong += [f"{name}: {w}" for w in check_published(events[0], change, oracle)]
        assert not wrong, f"seed {seed}: " + "; ".join(wrong[:20])
        assert not published and not dead, f"seed {seed}: changes never made: {[*published, *dead]}"
        log = (edge_source.log_dir / "source.log").read_text(errors="replace")
        assert not [text for text in refused_texts(oracle) if text in log], "a refused value was logged"
        assert "Traceback" not in log
    finally:
        oracle.close()
    assert not edge_source.crashed(), edge_source.log_tail("source")
    letter = next(letters(kafka, Filter(stage="source.erp")))
    with pytest.raises(DeadLetterError, match="is a source's letter"):
        republish(kafka, [letter])
