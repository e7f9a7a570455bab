"""The postgres sink under its runner on real Kafka and PostgreSQL, its target broken while it runs: an error every
record meets pauses it (no dead letter, the failing gauge 1, one log line, the same group member) until the target
is fixed, then every change arrives with its values; an error of one record sends that record alone to the DLQ."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from seamline.config import KafkaConfig
from seamline.connectors.sink import SinkRecord, TargetFailing
from seamline.dead_letters.writer import read_headers
from seamline.metrics import Metrics
from seamline.stack import StackInfo, postgres_dsn
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from sinks import runner as runner_module
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget
from sinks.runner import SinkRunner
from tests.conftest import wait_until
from tests.sinks.canonical_records import customer, publish

CUSTOMERS = 40
SINK = "warehouse"


@dataclass(frozen=True)
class Database:
    """The test's database `name`: its superuser DSN (`admin`), the server's (`server`, for what a read-only
    database refuses), and the DSN of the sink's own role (not a superuser, so that a REVOKE binds it)."""

    name: str
    admin: str
    server: str
    sink: str
    role: str

    def run(self, statement: str, on_server: bool = False) -> None:
        with psycopg.connect(self.server if on_server else self.admin, autocommit=True) as conn:
            conn.execute(statement)

    def names(self, table: str = "customers") -> dict[str, str]:
        """id -> name of the table's rows; none before the sink has made the table."""
        with psycopg.connect(self.admin) as conn:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                return {}
            query = sql.SQL("SELECT id, name FROM {}").format(sql.Identifier(table))
            return dict(conn.execute(query).fetchall())


@pytest.fixture
def target_db(database: str, stack: StackInfo) -> Iterator[Database]:
    role, name = f"sink_{uuid.uuid4().hex[:8]}", database.rsplit("/", 1)[1]
    made = Database(name, database, stack.postgres_dsn, postgres_dsn(name, user=role, password="pw"), role)
    made.run(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'", on_server=True)
    made.run(f"GRANT ALL ON SCHEMA public TO {role}")
    yield made
    made.run(f"ALTER DATABASE {name} RESET default_transaction_read_only", on_server=True)
    terminate_the_sinks_sessions(made)
    made.run(f"DROP OWNED BY {role}")
    made.run(f"DROP ROLE {role}", on_server=True)


def target(dsn: str) -> PostgresTarget:
    return PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(dsn), tables={"customer": "customers"}))


@contextmanager
def running(kafka: KafkaConfig, dsn: str, metrics: Metrics) -> Iterator[None]:
    runner = SinkRunner(SINK, kafka, target(dsn), ["customer"], metrics, batch_size=10)
    worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
    worker.start()
    try:
        yield
    finally:
        runner.stop()
        worker.join(30)
    assert not worker.is_alive(), "the runner stopped"


def versions(version: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [("customer", f"c{n}", customer(n, version)) for n in range(CUSTOMERS)]


def holding(version: int) -> dict[str, str]:
    return {f"c{n}": f"Customer {n} v{version}" for n in range(CUSTOMERS)}


def sample(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"sink": SINK}) or 0.0


def terminate_the_sinks_sessions(db: Database) -> None:
    db.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{db.role}'", on_server=True)


def read_only(db: Database) -> None:
    db.run(f"ALTER DATABASE {db.name} SET default_transaction_read_only = on", on_server=True)
    terminate_the_sinks_sessions(db)  # the setting applies to new sessions


Breakage = tuple[Callable[[Database], None], Callable[[Database], None], str, str]
BREAKAGES: dict[str, Breakage] = {
    # what breaks the target, what fixes it, the problem logged, the fix logged
    "column dropped": (
        lambda db: db.run("ALTER TABLE customers DROP COLUMN name"),
        lambda db: db.run("ALTER TABLE customers ADD COLUMN name text"),
        'UndefinedColumn: column "name" of relation "customers" does not exist',
        "add the column back",
    ),
    "table renamed": (
        lambda db: db.run("ALTER TABLE customers RENAME TO customers_moved"),
        lambda db: db.run("ALTER TABLE customers_moved RENAME TO customers"),
        'UndefinedTable: relation "customers" does not exist',
        "rename or restore the table",
    ),
    "privileges revoked": (
        lambda db: db.run(f"REVOKE INSERT, UPDATE ON customers FROM {db.role}"),
        lambda db: db.run(f"GRANT INSERT, UPDATE ON customers TO {db.role}"),
        "InsufficientPrivilege: permission denied for table customers",
        "grant the sink's role SELECT, INSERT, UPDATE and DELETE",
    ),
    "database read-only": (
        read_only,
        lambda db: db.run(f"ALTER DATABASE {db.name} RESET default_transaction_read_only", on_server=True),
        "ReadOnlySqlTransaction: cannot execute CREATE TABLE in a read-only transaction",
        "point the sink's dsn at the primary",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_an_error_every_record_meets_pauses_the_sink_until_fixed_and_loses_nothing(
    breakage: str,
    kafka: KafkaConfig,
    target_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(runner_module, "_RETRY_ROUND_S", 1.0)  # attempts at most about a second apart
    caplog.set_level(logging.INFO)
    breaks, fix, problem, remedy = BREAKAGES[breakage]
    metrics = Metrics.create()
    publish(kafka, versions(1))
    with running(kafka, target_db.sink, metrics):
        wait_until(lambda: target_db.names() == holding(1), 60, "version 1 written", interval=0.2)
        breaks(target_db)
        publish(kafka, versions(2))
        wait_until(
            lambda: sample(metrics, "seamline_sink_failing") == 1 and problem in caplog.text,
            30,
            "the sink to fail on the broken target",
            interval=0.1,
        )
        retries = sample(metrics, "seamline_sink_retries_total")
        wait_until(lambda: sample(metrics, "seamline_sink_retries_total") >= retries + 3, 30, "retries", interval=0.1)
        assert list(read_to_end(kafka, dlq_topic(kafka, f"sink.{SINK}"))) == [], "no dead letter"
        table = "customers_moved" if breakage == "table renamed" else "customers"
        if breakage != "column dropped":
            assert target_db.names(table) == holding(1), "nothing of version 2 written meanwhile"
        fix(target_db)
        wait_until(lambda: target_db.names() == holding(2), 30, "every version 2 written", interval=0.2)
        wait_until(lambda: sample(metrics, "seamline_sink_failing") == 0, 10, "the gauge back at 0", interval=0.1)
    assert list(read_to_end(kafka, dlq_topic(kafka, f"sink.{SINK}"))) == [], "no dead letter"
    written = metrics.registry.get_sample_value(
        "seamline_sink_writes_total", {"sink": SINK, "entity": "customer", "outcome": "written"}
    )
    assert written == 2 * CUSTOMERS, "every record written once, none rejected"
    messages = [record.getMessage() for record in caplog.records]
    failing = [m for m in messages if problem in m]
    assert len(failing) == 1, f"the problem logged once, not once per attempt: {failing}"
    assert f"{problem}: {remedy}" in failing[0]
    assert sum("the target takes writes again" in m for m in messages) == 1
    assert sum("partitions assigned" in m for m in messages) == 1, "the sink kept its group membership"


def test_a_record_that_breaks_a_check_goes_alone_to_the_dlq_and_the_rest_is_written(
    kafka: KafkaConfig, target_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tables = target(target_db.sink)
    tables.setup()
    tables.close()
    target_db.run("ALTER TABLE customers ADD CONSTRAINT not_seven CHECK (name <> 'Customer 7 v1')")
    metrics = Metrics.create()
    publish(kafka, versions(1))
    with running(kafka, target_db.sink, metrics):
        wait_until(lambda: len(target_db.names()) == CUSTOMERS - 1, 60, "every other record written", interval=0.2)
        wait_until(
            lambda: bool(list(read_to_end(kafka, dlq_topic(kafka, f"sink.{SINK}")))), 30, "the letter", interval=0.2
        )
    assert target_db.names() == {key: name for key, name in holding(1).items() if key != "c7"}
    (letter,) = list(read_to_end(kafka, dlq_topic(kafka, f"sink.{SINK}")))
    headers = read_headers(letter.headers())
    assert headers["error.class"] == "CheckViolation"
    assert headers["error.reason"].startswith('customers: new row for relation "customers" violates check constraint')
    assert sample(metrics, "seamline_sink_failing") == 0
    assert "the target refuses writes" not in caplog.text


def test_a_not_null_column_the_sink_does_not_write_fails_every_record(target_db: Database) -> None:
    sink = target(target_db.sink)
    sink.setup()
    try:
        target_db.run("ALTER TABLE customers ADD COLUMN region text NOT NULL")
        with pytest.raises(TargetFailing) as failing:
            sink.write([_record(1), _record(2)])
        assert 'column "region"' in failing.value.problem
        assert failing.value.fix == "give the column a default or drop its NOT NULL: the sink does not write it"
        target_db.run("ALTER TABLE customers ALTER COLUMN region SET DEFAULT 'EU'")
        assert sink.write([_record(1), _record(2)]).rejected == []
    finally:
        sink.close()
    assert target_db.names() == {"c1": "Customer 1 v1", "c2": "Customer 2 v1"}


def _record(number: int) -> SinkRecord:
    return SinkRecord("customer", f"c{number}", customer(number, 1), "canonical.customer", 0, number, None, None)
