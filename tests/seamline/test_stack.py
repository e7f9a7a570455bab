"""The local real stack: up is healthy and idempotent, errors are clear, the registry works."""

import json
import socket
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pymysql
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from seamline.stack import StackError, StackInfo, mariadb, mariadb_url, postgres_dsn, status, up
from seamline.stack.ports import ensure_port_free


@pytest.fixture(scope="module")
def stack() -> StackInfo:
    return up()


def test_up_returns_healthy_stack(stack: StackInfo) -> None:
    assert stack.bootstrap_servers == "127.0.0.1:9092"
    assert stack.registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert stack.postgres_dsn == postgres_dsn("postgres")
    with psycopg.connect(stack.postgres_dsn) as conn:
        rows = conn.execute("select name, setting from pg_settings where name in ('wal_level', 'port')").fetchall()
        settings = {name: setting for name, setting in rows}
        role = conn.execute("select rolsuper, rolreplication from pg_roles where rolname = 'seamline'").fetchone()
    assert settings == {"wal_level": "logical", "port": "55432"}
    assert role == (True, True)


def test_up_runs_mariadb_as_mysql_on_its_port_with_a_seamline_user(stack: StackInfo) -> None:
    assert stack.mariadb_url == mariadb_url() == "mysql+pymysql://seamline:seamline@127.0.0.1:53306/"
    name = f"stack_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(host="127.0.0.1", port=53306, user="seamline", password="seamline") as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT @@port, @@bind_address, @@time_zone, CURRENT_USER()")
            assert cursor.fetchone() == (53306, "127.0.0.1", "+00:00", "seamline@%")
            cursor.execute(f"CREATE DATABASE {name}")  # the seamline user may create databases
            cursor.execute(f"DROP DATABASE {name}")
    (row,) = [row for row in status() if row.name == "mariadb"]
    assert row.healthy and row.address == "127.0.0.1:53306" and row.pid is not None
    with open(f"/proc/{row.pid}/status") as proc:
        uid = next(line.split()[1] for line in proc if line.startswith("Uid:"))
    assert int(uid) == pymysql_owner()
    assert str(stack.state_dir / "mariadb") in open(f"/proc/{row.pid}/cmdline").read().replace("\0", " ")


def pymysql_owner() -> int:
    """The uid MariaDB should run as: `mysql` when the stack is started by root, else the caller."""
    import os
    import pwd

    return pwd.getpwnam("mysql").pw_uid if os.geteuid() == 0 else os.geteuid()


def test_mariadb_that_cannot_start_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mariadb, "SERVER", tmp_path / "no-mariadbd")
    monkeypatch.setattr(mariadb, "INSTALL_DB", tmp_path / "no-install-db")
    monkeypatch.setattr(mariadb.os, "geteuid", lambda: 1000)  # not root: no apt-get install
    with pytest.raises(
        StackError, match=r"^MariaDB server not found at .*: install MariaDB \(`apt-get install mariadb-server`\)"
    ) as error:
        mariadb.MariaDb(tmp_path).install()
    assert "\n" not in str(error.value)


def test_second_up_is_fast_and_idempotent(stack: StackInfo) -> None:
    pids = {row.name: row.pid for row in status()}
    started = time.monotonic()
    assert up() == stack
    assert time.monotonic() - started < 20
    assert {row.name: row.pid for row in status()} == pids


def test_status_reports_every_service_healthy(stack: StackInfo) -> None:
    rows = status()
    assert [row.name for row in rows] == ["kafka", "registry", "postgres", "mariadb", "prometheus"]
    assert all(row.healthy and row.pid for row in rows)


def test_busy_port_error_names_the_port() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=rf"port {port} .*in use") as error:
            ensure_port_free("127.0.0.1", port, "kafka")
    assert "\n" not in str(error.value)
    ensure_port_free("127.0.0.1", port, "kafka")


def test_registry_round_trip(stack: StackInfo) -> None:
    client = SchemaRegistryClient({"url": stack.registry_url})
    subject = f"test-stack-{uuid.uuid4().hex}-value"
    v1 = {"type": "record", "name": "Customer", "fields": [{"name": "id", "type": "string"}]}
    v2 = {**v1, "fields": [*v1["fields"], {"name": "email", "type": ["null", "string"], "default": None}]}
    breaking = {**v1, "fields": [{"name": "id", "type": "int"}]}

    schema_id = client.register_schema(subject, Schema(json.dumps(v1), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")

    assert json.loads(client.get_schema(schema_id).schema_str or "") == v1
    assert client.get_compatibility(subject) == "BACKWARD"
    assert client.test_compatibility(subject, Schema(json.dumps(v2), "AVRO"))
    assert not client.test_compatibility(subject, Schema(json.dumps(breaking), "AVRO"))
    assert client.get_latest_version(subject).schema_id == schema_id


def test_prometheus_scrapes_the_processes_registered_with_it(stack: StackInfo) -> None:
    from seamline.metrics import Metrics
    from seamline.stack.ports import free_port
    from seamline.stack.scrape_targets import register
    from tests.conftest import wait_until

    metrics, port, name = Metrics.create(), free_port(), uuid.uuid4().hex[:8]
    metrics.serve(port)
    metrics.sink_retries.labels(name).inc(3)
    targets = register("sink", name, port)
    assert targets is not None, "the stack's Prometheus has a targets directory"
    try:
        query = f'seamline_sink_retries_total{{job="seamline-sink", process="sink-{name}"}}'

        def scraped() -> bool:
            result = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5).json()
            return [sample["value"][1] for sample in result["data"]["result"]] == ["3"]

        wait_until(scraped, 60, f"Prometheus scraping sink {name}")
    finally:
        targets.unlink()
