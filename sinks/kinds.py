"""Builds the sink for a configured sink kind."""

from __future__ import annotations

from seamline.config import HttpSink, PostgresSink, SalesforceSink
from seamline.config import Sink as SinkConfig
from seamline.metrics import Metrics
from sinks.http.target import HttpTarget
from sinks.postgres.target import PostgresTarget
from sinks.salesforce.target import SalesforceTarget
from seamline.connectors.sink import Sink


def build_sink(name: str, config: SinkConfig, metrics: Metrics) -> Sink:
    """The Sink object for entry `sinks.<name>`; `metrics` for what a sink exports itself (circuit state)."""
    if isinstance(config, PostgresSink):
        return PostgresTarget(config)
    if isinstance(config, HttpSink):
        return HttpTarget(name, config, metrics)
    if isinstance(config, SalesforceSink):
        return SalesforceTarget(name, config)
    raise AssertionError(f"no sink for kind {config.kind!r}")
