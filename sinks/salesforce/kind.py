"""The salesforce sink kind: its section and its target."""

from __future__ import annotations

from typing import Any

from seamline.connectors.registry import SinkKind
from seamline.connectors.sink import Sink
from seamline.metrics import Metrics
from sinks.salesforce.config import SalesforceSink


def _open(name: str, section: Any, _metrics: Metrics) -> Sink:
    from sinks.salesforce.target import SalesforceTarget  # imported when run, not whenever a config is read

    return SalesforceTarget(name, section)


KIND = SinkKind("salesforce", SalesforceSink, _open)
