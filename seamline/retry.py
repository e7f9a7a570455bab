"""The one classification of failures: transient ones are retried or crash the process; the rest are the record's."""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import parsedate_to_datetime

import httpx
import psycopg
import stamina
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.common._httpx_compat import httpx as registry_http
from confluent_kafka.schema_registry.error import SchemaRegistryError

from seamline.connectors.registry import transient_for_a_kind
from seamline.connectors.sink import TargetFailing
from seamline.publisher import DeliveryFailed

DEFAULT_RETRY_AFTER_S = 5.0
HTTP_ERRORS = (httpx.HTTPError, registry_http.HTTPError)
"""What the HTTP clients raise: httpx's, and the schema registry client's (httpx2 where it is installed)."""
_TRANSPORT_ERRORS = (httpx.TransportError, registry_http.TransportError)


class ServerUnavailable(ConnectionError):
    """An HTTP API answered 5xx or 429: transient, like a dropped connection.

    `retry_after_s` is the wait the server asked for (its Retry-After header), which retries honour.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after(response: httpx.Response, default_s: float = DEFAULT_RETRY_AFTER_S) -> float:
    """Seconds a 429 or 503 asks to wait: its Retry-After header as seconds or as an HTTP date."""
    header = response.headers.get("Retry-After")
    if header is None:
        return default_s
    try:
        return max(0.0, float(header))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
        except (TypeError, ValueError):
            return default_s


def is_transient(exc: BaseException) -> bool:
    """True when retrying later can succeed: Kafka, registry or network trouble, a target failing for every record
    until it is fixed (TargetFailing), or what a connector kind says is its drivers' (seamline.connectors.registry),
    not the record's content."""
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code >= 500 or exc.http_status_code in (-1, 408, 429)
    if isinstance(exc, AioKafkaError):  # the processor's Faust clients
        return bool(exc.retriable)
    if isinstance(exc, psycopg.Error):
        return isinstance(
            exc, (psycopg.OperationalError, psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
        )
    if isinstance(
        exc, (DeliveryFailed, KafkaException, TargetFailing, *_TRANSPORT_ERRORS, ConnectionError, TimeoutError)
    ):
        return True
    return transient_for_a_kind(exc)


def _backoff(exc: Exception) -> bool | float:
    """stamina's hook: not retried (False), the server's own wait (seconds), or backoff with jitter (True)."""
    if not is_transient(exc):
        return False
    if isinstance(exc, ServerUnavailable) and exc.retry_after_s is not None:
        return exc.retry_after_s
    return True


def retrying(timeout_s: float | None = 240.0, wait_max_s: float = 15.0) -> Iterable[stamina.Attempt]:
    """Attempts of one operation: transient failures are retried with exponential backoff and jitter (up to
    `wait_max_s` between two attempts), or after the wait the server asked for; `timeout_s` None retries for as
    long as it takes."""
    return stamina.retry_context(
        on=_backoff, attempts=None, timeout=timeout_s, wait_initial=min(0.2, wait_max_s), wait_max=wait_max_s
    )
