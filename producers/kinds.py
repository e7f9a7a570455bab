"""Builds the source for a configured source kind."""

from __future__ import annotations

from producers.http_poll.source import HttpPoll
from producers.postgres_cdc.source import PostgresCdc
from producers.salesforce.source import Salesforce
from seamline.connectors.source import Source
from producers.sql_poll.source import SqlPoll
from seamline.config import HttpPollSource, KafkaConfig, PostgresCdcSource, SalesforceSource, SqlPollSource
from seamline.metrics import Metrics

SourceConfig = PostgresCdcSource | SqlPollSource | SalesforceSource | HttpPollSource


def build_source(name: str, config: SourceConfig, metrics: Metrics, kafka: KafkaConfig | None = None) -> Source:
    """The Source object for one `sources.<name>` entry; `kafka` for sources that read their own topic."""
    if isinstance(config, HttpPollSource):
        return HttpPoll(name, config, metrics)
    if isinstance(config, SalesforceSource):
        return Salesforce(name, config, metrics)
    if isinstance(config, SqlPollSource):
        return SqlPoll(name, config, metrics, kafka)
    return PostgresCdc(name, config, metrics)
