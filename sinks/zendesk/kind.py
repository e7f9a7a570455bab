"""The zendesk sink kind: its section and its target."""

from __future__ import annotations

from typing import Any

from seamline.connectors.registry import SinkKind
from seamline.connectors.sink import Sink
from seamline.metrics import Metrics
from sinks.zendesk.config import ZendeskSink


def _open(name: str, section: Any, _metrics: Metrics) -> Sink:
    from sinks.zendesk.target import ZendeskTarget  # imported when run, not whenever a config is read

    return ZendeskTarget(name, section)


KIND = SinkKind("zendesk", ZendeskSink, _open)
