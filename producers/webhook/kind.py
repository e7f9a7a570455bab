"""The webhook kind: its section, and changes ordered by their source time (a position is a delivery id)."""

from __future__ import annotations

from typing import Any

from producers.webhook.config import WebhookSource
from seamline.config import KafkaConfig
from seamline.connectors.registry import Order, PushSource, SourceKind
from seamline.metrics import Metrics


def delivery_order(position: str, ts_ms: int) -> Order:
    """A webhook's changes in the order of their source time; the delivery id breaks ties."""
    return (ts_ms, position)


def _open(name: str, section: Any, kafka: KafkaConfig, metrics: Metrics) -> PushSource:
    from producers.webhook.receiver import WebhookReceiver  # imported when run, not whenever a config is read

    return WebhookReceiver(name, kafka, section, metrics)


KIND = SourceKind("webhook", WebhookSource, _open, delivery_order)
