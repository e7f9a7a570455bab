"""Shared by the postgres_cdc tests: a fresh source database, sources on it, and ways to drain a source."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from producers.postgres_cdc.config import PostgresCdcSource
from producers.postgres_cdc.source import PostgresCdc
from seamline.connectors.source import Checkpoint, Refused
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.operations.local_pipeline import drop_slot
from seamline.stack import StackInfo


@dataclass
class Erp:
    """A fresh source database with a customers table, and the slot/publication names of this test."""

    dsn: str
    slot: str
    publication: str
    sources: list[PostgresCdc] = field(default_factory=list)

    def sql(self, statement: str, *params: object) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement, params or None)

    def config(self, **overrides: Any) -> PostgresCdcSource:
        settings: dict[str, Any] = {
            "kind": "postgres_cdc",
            "dsn": SecretStr(self.dsn),
            "system": "erp",
            "tables": ["customers"],
            "slot": self.slot,
            "publication": self.publication,
        }
        return PostgresCdcSource(**{**settings, **overrides})

    def source(
        self, resume: Checkpoint | None, **overrides: Any
    ) -> tuple[PostgresCdc, Generator[Change | Refused | Checkpoint | None, None, None]]:
        config = self.config(**overrides)
        cdc = PostgresCdc("erp", config, Metrics.create())
        self.sources.append(cdc)
        cdc.setup(resume)
        return cdc, cdc.changes()


@pytest.fixture
def erp(stack: StackInfo, database: str) -> Iterator[Erp]:
    db = Erp(database, slot=f"slot_{uuid.uuid4().hex[:12]}", publication=f"pub_{uuid.uuid4().hex[:12]}")
    db.sql("CREATE TABLE customers (id bigserial PRIMARY KEY, full_name text, email text)")
    db.sql("ALTER TABLE customers REPLICA IDENTITY FULL")
    db.sql(
        "INSERT INTO customers (full_name, email) VALUES ('Ada Lovelace', 'ada@example.com'), ('Grace Hopper', NULL)"
    )
    yield db
    for cdc in db.sources:
        cdc.close()
    drop_slot(stack.postgres_dsn, db.slot)
