"""The sql_poll kind: its section and the order of its (timestamp, key) watermarks."""

from __future__ import annotations

from typing import Any

from producers.sql_poll.config import SqlPollSource
from seamline.config import KafkaConfig
from seamline.connectors.registry import SourceKind
from seamline.connectors.source import Source, SourceTables
from seamline.events import watermark_order
from seamline.metrics import Metrics


def _open(name: str, section: Any, kafka: KafkaConfig, metrics: Metrics) -> Source:
    from producers.sql_poll.source import SqlPoll  # imported when run, not whenever a config is read

    return SqlPoll(name, section, metrics, kafka)


def _tables(name: str, section: Any) -> SourceTables:
    from producers.sql_poll.table import source_tables

    return source_tables(name, section)


KIND = SourceKind("sql_poll", SqlPollSource, _open, watermark_order, tables=_tables)
