"""The local real stack: up is healthy and idempotent, errors are clear, the registry works."""

import json
import socket
import time
import uuid

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from seamline.stack import StackError, StackInfo, postgres_dsn, status, up
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


def test_second_up_is_fast_and_idempotent(stack: StackInfo) -> None:
    pids = {row.name: row.pid for row in status()}
    started = time.monotonic()
    assert up() == stack
    assert time.monotonic() - started < 20
    assert {row.name: row.pid for row in status()} == pids


def test_status_reports_every_service_healthy(stack: StackInfo) -> None:
    rows = status()
    assert [row.name for row in rows] == ["kafka", "registry", "postgres"]
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
