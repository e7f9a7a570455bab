"""The postgres_cdc kind: its section, the order of its LSN positions, its replication errors."""

from __future__ import annotations

from typing import Any

import psycopg2

from producers.postgres_cdc.config import PostgresCdcSource
from seamline.config import KafkaConfig
from seamline.connectors.registry import Order, SourceKind
from seamline.connectors.source import Source, SourceTables
from seamline.metrics import Metrics


def lsn_order(position: str, _ts_ms: int = 0) -> Order:
    """'<commit LSN>:<n>' (the n-th change of its transaction) as (LSN, n)."""
    lsn, _, ordinal = position.partition(":")
    high, _, low = lsn.partition("/")
    return ((int(high, 16) << 32) | int(low, 16), int(ordinal or 0))


def is_transient(exc: BaseException) -> bool:
    """A lost replication connection; a server ending with an immediate shutdown breaks the stream with a bare
    DatabaseError that has no SQLSTATE."""
    return isinstance(exc, psycopg2.OperationalError) or (type(exc) is psycopg2.DatabaseError and not exc.pgcode)


def _open(name: str, section: Any, _kafka: KafkaConfig, metrics: Metrics) -> Source:
    from producers.postgres_cdc.source import PostgresCdc  # imported when run, not whenever a config is read

    return PostgresCdc(name, section, metrics)


def _tables(name: str, section: Any) -> SourceTables:
    from producers.postgres_cdc.source import source_tables

    return source_tables(name, section)


KIND = SourceKind("postgres_cdc", PostgresCdcSource, _open, lsn_order, is_transient, _tables)
