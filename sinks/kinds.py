"""Builds the sink for a configured sink kind."""

from __future__ import annotations

from seamline.config import PostgresSink
from sinks.postgres import PostgresTarget
from sinks.sink import Sink


def build_sink(config: PostgresSink) -> Sink:
    """The Sink object for one `sinks.<name>` entry."""
    return PostgresTarget(config)
