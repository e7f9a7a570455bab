"""Builds the source for a configured source kind."""

from __future__ import annotations

from producers.postgres_cdc import PostgresCdc
from producers.salesforce import Salesforce
from producers.source import Source
from producers.sql_poll import SqlPoll
from seamline.config import PostgresCdcSource, SalesforceSource, SqlPollSource
from seamline.metrics import Metrics


def build_source(name: str, config: PostgresCdcSource | SqlPollSource | SalesforceSource, metrics: Metrics) -> Source:
    """The Source object for one `sources.<name>` entry."""
    if isinstance(config, SalesforceSource):
        return Salesforce(name, config, metrics)
    if isinstance(config, SqlPollSource):
        return SqlPoll(name, config, metrics)
    return PostgresCdc(name, config, metrics)
