"""The one retry policy: what is transient, and how long it waits before trying again."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiokafka.errors
import httpx
import psycopg
import psycopg2
import psycopg2.errors
import pytest
from confluent_kafka.schema_registry._sync import schema_registry_client

from seamline.config import KafkaConfig
from seamline.retry import ServerUnavailable, is_transient, retry_after, retrying
from seamline.serde import registry_client
from seamline.stack.ports import free_port
from tests.clock import Clock


def test_transient_failures_are_the_environments_not_the_records() -> None:
    assert is_transient(ServerUnavailable("503")) and is_transient(httpx.ConnectError("refused"))
    assert is_transient(psycopg.errors.DeadlockDetected())
    assert not is_transient(ValueError("bad value")) and not is_transient(psycopg.errors.UniqueViolation())
    # postgres_cdc's replication stream, cut by a server's immediate shutdown, and a query the server refused
    assert is_transient(psycopg2.DatabaseError("error with status PGRES_COPY_BOTH and no message from the libpq"))
    assert is_transient(psycopg2.OperationalError("server closed the connection unexpectedly"))
    assert not is_transient(psycopg2.errors.UndefinedTable()) and not is_transient(psycopg2.ProgrammingError())
    # the processor's Faust clients: a broker out of reach, and an ACL that refuses
    assert is_transient(aiokafka.errors.NodeNotReadyError()) and is_transient(aiokafka.errors.KafkaConnectionError())
    assert not is_transient(aiokafka.errors.TopicAuthorizationFailedError())


def test_retry_after_reads_seconds_and_http_dates_and_falls_back_on_garbage() -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(httpx.Response(503, headers={"Retry-After": later})) <= 30
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), default_s=3) == 3
    assert retry_after(httpx.Response(429)) > 0


def test_a_retry_waits_what_the_server_asked_for(clock: Clock) -> None:
    started, calls = clock.monotonic(), []
    for attempt in retrying(timeout_s=10):
        with attempt:
            calls.append(clock.monotonic() - started)
            if len(calls) < 3:
                raise ServerUnavailable("503", retry_after_s=0.4)
    assert len(calls) == 3 and calls[1] >= 0.4 and calls[2] - calls[1] >= 0.4
    assert clock.waits == [0.4, 0.4]


def test_a_record_error_is_not_retried() -> None:
    calls = []
    with pytest.raises(ValueError):
        for attempt in retrying(timeout_s=10):
            with attempt:
                calls.append(1)
                raise ValueError("bad")
    assert calls == [1]


def test_an_unreachable_schema_registry_is_transient(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its client raises its own HTTP library's errors (httpx2), not httpx's: a registry outage must pause
    the work, not send records to a DLQ. (The client's own retries wait on the test's clock.)"""
    clock.install(monkeypatch, schema_registry_client)
    with pytest.raises(Exception) as caught:  # noqa: B017 - which class it is, is the question
        registry_client(KafkaConfig(schema_registry_url=f"http://127.0.0.1:{free_port()}")).get_schema(1)
    assert is_transient(caught.value), type(caught.value)
