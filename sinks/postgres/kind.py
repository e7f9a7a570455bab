"""The postgres sink kind: its section and its target."""

from __future__ import annotations

from typing import Any

from seamline.connectors.registry import SinkKind
from seamline.connectors.sink import Sink
from seamline.metrics import Metrics
from sinks.postgres.config import PostgresSink


def _open(_name: str, section: Any, _metrics: Metrics) -> Sink:
    from sinks.postgres.target import PostgresTarget  # imported when run, not whenever a config is read

    return PostgresTarget(section)


KIND = SinkKind("postgres", PostgresSink, _open)
