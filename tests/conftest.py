"""Shared fixtures: the real local stack (started once per session) and isolated pipelines."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
from psycopg import sql

from seamline.config import KafkaConfig
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack import StackInfo, mariadb, postgres_dsn, up
from seamline.stack.processes import Supervisor
from seamline.subjects import delete_subjects
from seamline.topics import delete_prefixed
from tests.clock import Clock


@pytest.hookimpl(tryfirst=True)  # before -m selects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `unit` (`make test-unit`) every test that needs no stack and is not `slow`: no `stack` fixture in its
    closure (directly or through kafka, database, pipeline, ...) and no `stack` marker (a test that reaches the
    stack some other way: a subprocess, a hard-coded address).

    An `exclusive` test is skipped on a pytest-xdist worker: beside other tests it would disturb them or they it
    (`make test` runs these alone after the rest)."""
    parallel = "PYTEST_XDIST_WORKER" in os.environ
    for item in items:
        needs_stack = "stack" in getattr(item, "fixturenames", ()) or item.get_closest_marker("stack") is not None
        if not needs_stack and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)
        if parallel and item.get_closest_marker("exclusive") is not None:
            item.add_marker(pytest.mark.skip(reason="exclusive: it needs the stack to itself; run it without -n"))


@pytest.fixture(scope="session")
def stack() -> StackInfo:
    """Kafka, the schema registry and PostgreSQL, started by the same code as `seamline stack up`."""
    return up()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Time this test controls (tests/clock.py): the retry policy's waits run on it; install it on the modules
    whose waits the test takes over."""
    made = Clock()
    made.install_retries(monkeypatch)
    return made


@pytest.fixture
def kafka(stack: StackInfo) -> Iterator[KafkaConfig]:
    """Kafka settings with a topic prefix of this test's own; its topics, groups and subjects are deleted after
    the test, so that the broker's start does not slow down with every run."""
    config = KafkaConfig(
        bootstrap_servers=stack.bootstrap_servers,
        schema_registry_url=stack.registry_url,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
    )
    yield config
    delete_subjects(config, delete_prefixed(config))


@pytest.fixture
def new_database(stack: StackInfo) -> Iterator[Callable[[], str]]:
    """Makes databases of this test's own (each call one more, returning its DSN), dropped afterwards."""
    names: list[str] = []

    def create() -> str:
        names.append(f"db_{uuid.uuid4().hex[:10]}")
        with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names[-1])))
        return postgres_dsn(names[-1])

    yield create
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database(new_database: Callable[[], str]) -> str:
    """A database of this test's own, dropped afterwards: its DSN."""
    return new_database()


@pytest.fixture
def mariadb_database(stack: StackInfo) -> Iterator[str]:
    """A MariaDB database of this test's own, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"db_{uuid.uuid4().hex[:10]}"

    def admin(statement: str) -> None:
        with (
            pymysql.connect(
                host=mariadb.HOST, port=mariadb.PORT, user=mariadb.USER, password=mariadb.PASSWORD, autocommit=True
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(statement)

    admin(f"CREATE DATABASE `{name}`")
    yield mariadb.url(name)
    admin(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def pipeline(stack: StackInfo, tmp_path: Path) -> Iterator[LocalPipeline]:
    """An isolated pipeline: its own ERP and target databases, topics, slot, consumer groups and state."""
    made = LocalPipeline.create(stack, f"t{uuid.uuid4().hex[:8]}", tmp_path / "pipeline", pii=True)
    yield made
    made.destroy(stack.postgres_dsn)


@pytest.fixture
def processes(pipeline: LocalPipeline) -> Iterator[Supervisor]:
    """The pipeline's source, processor and sink processes (not started); stopped after the test."""
    supervisor = pipeline.supervisor()
    yield supervisor
    supervisor.stop_all()


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 1.0) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
