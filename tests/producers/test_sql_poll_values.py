"""Values at the edges of their types through the real `seamline source run` process of a sql_poll source.

A PostgreSQL and a MariaDB table hold each edge value in a row of its own beside normal rows (docs/sources.md,
"Values at the edges"). Every row is on `src.erp.edge` with the documented value, or exactly one letter in
`dlq.source.erp` holding the row as text with a reason naming the table and exactly its refused columns, never a
value; rows whose timestamp column cannot be a position are not captured and are counted in a warning; the poll
goes on past every row (pages of 3 rows), a row inserted afterwards arrives, and the process never exits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from producers.sql_poll.table import connect_engine
from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic, source_topic
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Dead:
    """A value the source refuses: what the reason says of its column, and the column's text in the letter."""

    why: str
    text: str


DATE = Dead("is a date BC, after year 9999", "")
TIMESTAMP = Dead("is a timestamp BC, after year 9999", "")
NAN = Dead("is NaN, which an Avro decimal cannot hold", "NaN")


def dead(kind: Dead, text: str) -> Dead:
    return Dead(kind.why, text)


@dataclass(frozen=True)
class Edges:
    """One database's edge table: column -> [(literal, what it becomes)], and timestamps no position can hold."""

    table: str
    values: dict[str, list[tuple[str, Any]]]
    unpositioned: list[str]
    both: dict[str, str]
    """A row with two refused values."""


POSTGRESQL = Edges(
    "CREATE TABLE edge (id integer PRIMARY KEY, day date, local timestamp, moment timestamptz, alarm time, "
    "amount numeric(7, 2), exact numeric, updated_at timestamptz NOT NULL)",
    {
        "day": [
            ("0001-01-01", date(1, 1, 1)),
            ("9999-12-31", date(9999, 12, 31)),
            ("infinity", date.max),
            ("-infinity", date.min),
            ("0044-03-15 BC", dead(DATE, "0044-03-15 BC")),
            ("10000-01-01", dead(DATE, "10000-01-01")),
        ],
        "local": [
            ("2024-02-29 13:14:15.000001", datetime(2024, 2, 29, 13, 14, 15, 1, tzinfo=UTC)),
            ("infinity", LATEST),
            ("-infinity", EARLIEST),
            ("0001-01-01 00:00:00 BC", dead(TIMESTAMP, "0001-01-01 00:00:00 BC")),
            ("275760-09-13 00:00:00", dead(TIMESTAMP, "275760-09-13 00:00:00")),
        ],
        "moment": [
            ("2024-02-29 13:14:15.5+02", datetime(2024, 2, 29, 11, 14, 15, 500000, tzinfo=UTC)),
            ("infinity", LATEST),
            ("-infinity", EARLIEST),
            ("0044-03-15 12:00:00+00 BC", dead(TIMESTAMP, "0044-03-15 12:00:00+00 BC")),
            ("9999-12-31 23:00:00-05", dead(TIMESTAMP, "10000-01-01 04:00:00+00")),
            ("0001-01-01 00:30:00+01", dead(TIMESTAMP, "0001-12-31 23:30:00+00 BC")),
        ],
        # time is published as text, which holds the end of a day
        "alarm": [("24:00:00", "24:00:00"), ("23:59:59.999999", "23:59:59.999999")],
        "amount": [("99999.99", Decimal("99999.99")), ("-99999.99", Decimal("-99999.99")), ("NaN", NAN)],
        "exact": [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity")],
    },
    ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "10000-01-01 00:00:00+00"],
    {"day": "0044-03-15 BC", "amount": "NaN"},
)
MARIADB = Edges(
    "CREATE TABLE edge (id int PRIMARY KEY, day date, local datetime(6), stamp timestamp(6) NULL, "
    "amount decimal(7, 2), updated_at datetime(6) NOT NULL)",
    {
        "day": [
            ("0001-01-01", date(1, 1, 1)),
            ("9999-12-31", date(9999, 12, 31)),
            ("0000-00-00", dead(DATE, "0000-00-00")),
            ("2024-00-15", dead(DATE, "2024-00-15")),
        ],
        "local": [
            ("9999-12-31 23:59:59.999999", LATEST),
            ("0001-01-01 00:00:00", EARLIEST),
            ("0000-00-00 00:00:00", dead(TIMESTAMP, "0000-00-00 00:00:00.000000")),
            ("2024-02-00 00:00:00", dead(TIMESTAMP, "2024-02-00 00:00:00.000000")),
        ],
        "stamp": [
            ("2038-01-19 03:14:07.999999", datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)),
            ("0000-00-00 00:00:00", dead(TIMESTAMP, "0000-00-00 00:00:00.000000")),
        ],
        "amount": [("99999.99", Decimal("99999.99")), ("-99999.99", Decimal("-99999.99"))],
    },
    ["0000-00-00 00:00:00", "2024-02-00 00:00:00"],
    {"day": "0000-00-00", "local": "2024-02-00 00:00:00"},
)
EDGES = {"postgresql": POSTGRESQL, "mysql": MARIADB}


@dataclass(frozen=True)
class Expected:
    """What one row must become: `published` column values, or a letter refusing `refused` columns."""

    key: int
    published: dict[str, Any]
    refused: dict[str, Dead]


def rows(edges: Edges) -> tuple[dict[int, dict[str, str]], list[Expected]]:
    """Rows of one value each (the others NULL), one with two refused values, one normal row: literals by key,
    and what each becomes."""
    literals: dict[int, dict[str, str]] = {}
    expected: list[Expected] = []
    for column, values in edges.values.items():
        for literal, becomes in values:
            key = len(literals) + 1
            literals[key] = {column: literal}
            refused = {column: becomes} if isinstance(becomes, Dead) else {}
            expected.append(Expected(key, {} if refused else {column: becomes}, refused))
    key = len(literals) + 1
    literals[key] = edges.both
    refused = {column: next(b for lit, b in edges.values[column] if lit == text) for column, text in edges.both.items()}
    expected.append(Expected(key, {}, refused))
    literals[key + 1] = {"amount": "12.5"}
    expected.append(Expected(key + 1, {"amount": Decimal("12.50")}, {}))
    return literals, expected


def insert(engine: sa.Engine, key: int, values: dict[str, str], updated_at: str) -> None:
    columns = ", ".join(["id", *values, "updated_at"])
    params = ", ".join(f":{name}" for name in ["id", *values, "updated_at"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO edge ({columns}) VALUES ({params})"), {"id": key, **values, "updated_at": updated_at}
        )


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_database"))
    return "postgresql+psycopg://" + str(request.getfixturevalue("database")).removeprefix("postgresql://")


@pytest.fixture(params=["postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest, stack: StackInfo) -> Iterator[sa.Engine]:
    made = connect_engine("test", database_url(request))
    with made.begin() as conn:
        conn.execute(sa.text(EDGES[made.dialect.name].table))
    yield made
    made.dispose()


@pytest.fixture
def source(engine: sa.Engine, kafka: KafkaConfig, tmp_path: Path) -> Iterator[Supervisor]:
    """The `seamline source run erp` process (not started) polling `edge` in pages of 3 rows."""
    settings = {
        "kind": "sql_poll",
        "dsn": engine.url.render_as_string(hide_password=False),
        "system": "erp",
        "table": "edge",
        "poll_interval_s": 0.2,
        "batch_size": 3,
        "overlap_s": 1.0,
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(mode="json", include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    config_path = tmp_path / "seamline.yaml"
    config_path.write_text(yaml.safe_dump({"kafka": kafka_section, "sources": {"erp": settings}}))
    supervisor = Supervisor(config_path, tmp_path / "logs", {"source": ["source", "run", "erp"]})
    yield supervisor
    supervisor.stop_all()


def test_edge_values_are_published_as_documented_or_one_letter_each_and_the_poll_goes_on(
    engine: sa.Engine, source: Supervisor, kafka: KafkaConfig
) -> None:
    edges = EDGES[engine.dialect.name]
    where = f"{'public' if engine.dialect.name == 'postgresql' else engine.url.database}.edge"
    literals, expected = rows(edges)
    for key, values in literals.items():
        insert(engine, key, values, stamp(T0 + timedelta(seconds=key)))
    for n, unpositioned in enumerate(edges.unpositioned):
        insert(engine, 500 + n, {"amount": "1"}, unpositioned)
    source.start("source")

    topic, dlq = source_topic(kafka, "erp", "edge"), dlq_topic(kafka, "source.erp")
    serde = AvroSerde(kafka)
    published: dict[int, list[dict[str, Any]]] = {}
    letters: dict[int, list[tuple[dict[str, Any], dict[str, str]]]] = {}

    def read(until_key: int) -> bool:
        assert not source.crashed(), source.log_tail("source")
        published.clear()
        letters.clear()
        for message in read_to_end(kafka, topic):
            key = int(serde.decode(topic, message.key(), key=True)["columns"]["id"])
            published.setdefault(key, []).append(serde.decode(topic, message.value()))
        for message in read_to_end(kafka, dlq):
            key = int(serde.decode(dlq, message.key(), key=True)["columns"]["id"])
            letters.setdefault(key, []).append((serde.decode(dlq, message.value()), read_headers(message.headers())))
        return until_key in published or until_key in letters

    wait_until(lambda: read(expected[-1].key), 90, "the last row of the table on the topic", interval=0.5)
    insert(engine, 1000, {"amount": "7"}, stamp(datetime.now(UTC)))
    wait_until(lambda: read(1000), 30, "a row inserted afterwards on the topic", interval=0.5)

    wrong: list[str] = []
    for row in expected:
        events, dead_letters = published.pop(row.key, []), letters.pop(row.key, [])
        if row.refused and (events or len(dead_letters) != 1):
            wrong.append(f"row {row.key}: {len(events)} events and {len(dead_letters)} letters, expected one letter")
        elif row.refused:
            wrong += [f"row {row.key}: {w}" for w in check_letter(*dead_letters[0], row, where)]
        elif dead_letters or len(events) != 1:
            wrong.append(f"row {row.key}: {len(events)} events and {len(dead_letters)} letters, expected one event")
        else:
            after = events[0]["after"]
            wrong += [
                f"row {row.key}: {column} is {type(after[column]).__name__} {after[column]!r}"
                for column, value in row.published.items()
                if after[column] != value or type(after[column]) is not type(value)
            ]
    assert not wrong, "; ".join(wrong)
    assert [event["after"]["amount"] for event in published.pop(1000)] == [Decimal("7.00")]
    assert not published and not letters, f"rows not captured as expected: {sorted({*published, *letters})}"

    log = (source.log_dir / "source.log").read_text(errors="replace")
    texts = [becomes.text for values in edges.values.values() for _, becomes in values if isinstance(becomes, Dead)]
    quoted = [text for text in texts + edges.unpositioned if any(map(str.isdigit, text)) and text in log]
    assert not quoted, f"the log quotes values: {quoted}"
    assert "Traceback" not in log
    count = len(edges.unpositioned)
    assert f"{count} rows of {where} have updated_at before year 1 or after 9999" in log
    assert not source.crashed(), source.log_tail("source")


def check_letter(event: dict[str, Any], headers: dict[str, str], row: Expected, where: str) -> list[str]:
    """The letter holds the row as text, and its reason names exactly the refused columns and why, never a value."""
    wrong = []
    after = event["after"] or {}
    if after.get("id") != str(row.key) or event["before"] is not None:
        wrong.append("the letter is not the row's upsert")
    wrong += [
        f"the letter's {column} is {after.get(column)!r}"
        for column, refused in row.refused.items()
        if after.get(column) != refused.text
    ]
    reason = headers["error.reason"]
    named = {name for name in after if f"column {name} " in reason}
    if not reason.startswith(f"{where}: column ") or named != set(row.refused):
        wrong.append(f"the reason names {sorted(named)}, refused {sorted(row.refused)}: {reason}")
    wrong += [
        f"the reason does not say that column {column} {refused.why}"
        for column, refused in row.refused.items()
        if f"column {column} {refused.why}" not in reason
    ]
    if [
        refused.text
        for refused in row.refused.values()
        if any(map(str.isdigit, refused.text)) and refused.text in reason
    ]:
        wrong.append(f"the reason quotes a value: {reason}")
    if "set it" not in reason:
        wrong.append(f"the reason does not say what to do: {reason}")
    wanted = {"stage": "source.erp", "error.class": "UnrepresentableValue", "original.topic": "src.erp.edge"}
    wrong += [f"header {k} is {headers.get(k)}" for k, v in wanted.items() if not headers.get(k, "").endswith(v)]
    return wrong
