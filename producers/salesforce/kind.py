"""The salesforce kind: its section and the order of its (SystemModstamp, Id) watermarks."""

from __future__ import annotations

from typing import Any

from producers.salesforce.config import SalesforceSource
from seamline.config import KafkaConfig
from seamline.connectors.registry import SourceKind
from seamline.connectors.source import Source
from seamline.events import watermark_order
from seamline.metrics import Metrics


def _open(name: str, section: Any, _kafka: KafkaConfig, metrics: Metrics) -> Source:
    from producers.salesforce.source import Salesforce  # imported when run, not whenever a config is read

    return Salesforce(name, section, metrics)


KIND = SourceKind("salesforce", SalesforceSource, _open, watermark_order)
