"""Builds the source for a configured source kind."""

from __future__ import annotations

from producers.postgres_cdc import PostgresCdc
from producers.source import Source
from producers.sql_poll import SqlPoll
from seamline.config import KafkaConfig, PostgresCdcSource, SqlPollSource
from seamline.metrics import Metrics


def build_source(
    name: str, config: PostgresCdcSource | SqlPollSource, metrics: Metrics, kafka: KafkaConfig | None = None
) -> Source:
    """The Source object for one `sources.<name>` entry; `kafka` for sources that read their own topic."""
    if isinstance(config, SqlPollSource):
        return SqlPoll(name, config, metrics, kafka)
    return PostgresCdc(name, config, metrics)
