"""The one builder of Kafka client settings (confluent-kafka and Faust), TLS and SASL included."""

from __future__ import annotations

import ssl
from typing import Any, Literal

from seamline.config import KafkaConfig

Role = Literal["producer", "consumer", "admin"]

_ROLE_DEFAULTS: dict[Role, dict[str, Any]] = {
    "producer": {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "batch.num.messages": 10000,
        # flush() reports failures; a report per acknowledged record takes the GIL once each, which in a busy
        # process made flushing 5,000 records take 1.3 s instead of 0.2 s.
        "delivery.report.only.error": True,
    },
    "consumer": {
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "partition.assignment.strategy": "cooperative-sticky",
        # librdkafka's default, said aloud: transactions' records are read once committed, aborted ones never.
        "isolation.level": "read_committed",
        # As the processors' Faust consumers: a crashed member's partitions move on within 10 s, not 45.
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 3000,
    },
    "admin": {},
}


RECORD_OVERHEAD_BYTES = 64 * 1024
"""Room above max_record_bytes for what Kafka adds to a record (batch header, lengths): the producers' and the
topics' limits, so a record within max_record_bytes always fits."""


def record_limit(kafka: KafkaConfig) -> int:
    """The producers' message.max.bytes and the topics' max.message.bytes."""
    return kafka.max_record_bytes + RECORD_OVERHEAD_BYTES


def client_settings(kafka: KafkaConfig, role: Role, **overrides: Any) -> dict[str, Any]:
    """librdkafka settings for a confluent-kafka client of the given role."""
    settings: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
        **_ROLE_DEFAULTS[role],
    }
    if role == "producer":
        settings["message.max.bytes"] = record_limit(kafka)
    if kafka.security_protocol.startswith("SASL"):
        settings["sasl.mechanism"] = kafka.sasl_mechanism
        settings["sasl.username"] = kafka.sasl_username
        settings["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.ssl_ca_location is not None:
        settings["ssl.ca.location"] = str(kafka.ssl_ca_location)
    settings.update(overrides)
    return settings


def faust_settings(kafka: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments for faust.App that reach the same cluster with the same security."""
    import faust

    settings: dict[str, Any] = {
        "broker": ";".join(f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "producer_acks": -1,
        "producer_max_request_size": record_limit(kafka),
        "consumer_max_fetch_size": record_limit(kafka),
    }
    context = ssl.create_default_context(cafile=str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None)
    if kafka.security_protocol.startswith("SASL"):
        password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        settings["broker_credentials"] = faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context if kafka.security_protocol == "SASL_SSL" else None,
        )
    elif kafka.security_protocol == "SSL":
        settings["broker_credentials"] = faust.SSLCredentials(context)
    return settings
