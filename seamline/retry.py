"""The one classification of failures: transient ones are retried or crash the process; the rest are the record's."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import stamina
from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.error import SchemaRegistryError

from seamline.publisher import DeliveryFailed


class ServerUnavailable(ConnectionError):
    """An HTTP API answered 5xx: transient, like a dropped connection."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying later can succeed: Kafka, registry or network trouble, not the record's content."""
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code >= 500 or exc.http_status_code in (-1, 408, 429)
    if isinstance(exc, psycopg.Error):
        return isinstance(
            exc, (psycopg.OperationalError, psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
        )
    return isinstance(exc, (DeliveryFailed, KafkaException, httpx.TransportError, ConnectionError, TimeoutError))


def retrying(timeout_s: float = 240.0) -> Iterator[stamina.Attempt]:
    """Attempts of one operation: transient failures are retried with exponential backoff and jitter."""
    return stamina.retry_context(on=is_transient, attempts=None, timeout=timeout_s, wait_initial=0.2, wait_max=15.0)
