"""The http sink kind: its section and its target."""

from __future__ import annotations

from typing import Any

from seamline.connectors.registry import SinkKind
from seamline.connectors.sink import Sink
from seamline.metrics import Metrics
from sinks.http.config import HttpSink


def _open(name: str, section: Any, metrics: Metrics) -> Sink:
    from sinks.http.target import HttpTarget  # imported when run, not whenever a config is read

    return HttpTarget(name, section, metrics)


KIND = SinkKind("http", HttpSink, _open)
