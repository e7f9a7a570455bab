"""Builds the sink for a configured sink kind."""

from __future__ import annotations

from seamline.config import PostgresSink
from seamline.config import Sink as SinkConfig
from seamline.metrics import Metrics
from sinks.postgres import PostgresTarget
from sinks.sink import Sink


def build_sink(config: SinkConfig, metrics: Metrics) -> Sink:
    """The Sink object for one `sinks.<name>` entry; `metrics` for what a sink exports itself (circuit state)."""
    if isinstance(config, PostgresSink):
        return PostgresTarget(config)
    raise AssertionError(f"no sink for kind {config.kind!r}")
