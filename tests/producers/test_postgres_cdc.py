"""PostgresCdc against a real PostgreSQL database: snapshot, streaming, checkpoints and resume (no Kafka)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from pydantic import SecretStr

from producers.pgoutput import lsn_from_str, lsn_to_str
from producers.postgres_cdc import PostgresCdc
from producers.source import Checkpoint
from seamline.config import PostgresCdcSource
from seamline.events import Change, event_id, position_order
from seamline.local_pipeline import drop_slot
from seamline.metrics import Metrics
from seamline.stack import StackInfo

Item = Change | Checkpoint


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

    def source(
        self, resume: Checkpoint | None
    ) -> tuple[PostgresCdc, Generator[Change | Checkpoint | None, None, None]]:
        config = PostgresCdcSource(
            kind="postgres_cdc",
            dsn=SecretStr(self.dsn),
            system="erp",
            tables=["customers"],
            slot=self.slot,
            publication=self.publication,
        )
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


def take(
    changes: Iterator[Change | Checkpoint | None], until: Callable[[list[Item]], bool], timeout: float = 15
) -> list[Item]:
    """Items from the generator until `until(items)` holds; fail after `timeout` seconds."""
    items: list[Item] = []
    deadline = time.monotonic() + timeout
    while not until(items):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {items}")
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def checkpoints(n: int) -> Callable[[list[Item]], bool]:
    return lambda items: sum(isinstance(i, Checkpoint) for i in items) >= n


def idle(changes: Iterator[Change | Checkpoint | None], seconds: float = 2.0) -> list[Item]:
    """Everything the generator yields during `seconds` (it yields None when idle)."""
    items: list[Item] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        item = next(changes)
        if item is not None:
            items.append(item)
    return items


def test_lsn_text_round_trip() -> None:
    for lsn in (0, 1, 0x16B3748, (0xA << 32) | 0xFFFFFFFF, (0xFFFFFFFF << 32) | 0xFFFFFFFF):
        assert lsn_from_str(lsn_to_str(lsn)) == lsn
    assert lsn_to_str(0x16B3748) == "0/16B3748"
    assert lsn_to_str((1 << 32) | 0xAB) == "1/AB"
    assert lsn_from_str("16/B374D848") == (0x16 << 32) | 0xB374D848


def test_snapshot_rows_then_checkpoint(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    items = take(changes, checkpoints(1))
    *rows, done = items
    assert isinstance(done, Checkpoint) and done.snapshot_done
    assert all(isinstance(r, Change) for r in rows)
    assert sorted((r.op, r.snapshot, r.key["id"], r.before, r.after) for r in rows if isinstance(r, Change)) == [
        ("r", True, "1", None, {"id": "1", "full_name": "Ada Lovelace", "email": "ada@example.com"}),
        ("r", True, "2", None, {"id": "2", "full_name": "Grace Hopper", "email": None}),
    ]
    assert {(r.system, r.object, r.connector) for r in rows if isinstance(r, Change)} == {
        ("erp", "customers", "postgres_cdc")
    }
    assert {position_order("postgres_cdc", r.position)[0] for r in rows} == {lsn_from_str(done.position)}


def test_stream_insert_update_delete(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("INSERT INTO customers (id, full_name, email) VALUES (10, 'Alan Turing', 'alan@example.com')")
    erp.sql("UPDATE customers SET email = 'alan@turing.org' WHERE id = 10")
    erp.sql("DELETE FROM customers WHERE id = 10")
    items = take(changes, checkpoints(3))
    assert [type(i).__name__ for i in items] == ["Change", "Checkpoint"] * 3
    insert, update, delete = (i for i in items if isinstance(i, Change))
    alan = {"id": "10", "full_name": "Alan Turing", "email": "alan@example.com"}
    moved = {**alan, "email": "alan@turing.org"}
    assert (insert.op, insert.before, insert.after, insert.snapshot) == ("c", None, alan, False)
    assert (update.op, update.before, update.after) == ("u", alan, moved)
    assert (delete.op, delete.before, delete.after) == ("d", moved, None)
    for change in (insert, update, delete):
        assert change.key == {"id": "10"}
        assert (change.system, change.object, change.connector) == ("erp", "customers", "postgres_cdc")
        assert change.source_ts_ms == pytest.approx(time.time() * 1000, abs=60_000)
    positions = [position_order("postgres_cdc", i.position) for i in items]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(isinstance(i, Checkpoint) and i.snapshot_done for i in items[1::2])


def test_truncate_is_reported_not_dropped_silently(erp: Erp, caplog: pytest.LogCaptureFixture) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("TRUNCATE customers")
    erp.sql("INSERT INTO customers (id, full_name) VALUES (20, 'After')")
    with caplog.at_level("ERROR", logger="producers.postgres_cdc"):
        items = take(changes, checkpoints(2))
    assert "TRUNCATE of public.customers" in caplog.text and "is not captured" in caplog.text
    assert [i.key for i in items if isinstance(i, Change)] == [{"id": "20"}]


def test_one_checkpoint_per_transaction(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    with psycopg.connect(erp.dsn) as conn:  # one transaction, two rows
        conn.execute("INSERT INTO customers (full_name) VALUES ('A'), ('B')")
    items = take(changes, checkpoints(1))
    assert [type(i).__name__ for i in items] == ["Change", "Change", "Checkpoint"]
    first, second, commit = (position_order("postgres_cdc", i.position) for i in items)
    assert first < second < commit


def test_event_id_is_deterministic(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("INSERT INTO customers (id, full_name) VALUES (20, 'Katherine Johnson')")
    change = take(changes, checkpoints(1))[0]
    assert isinstance(change, Change)
    first, second = change.envelope(), change.envelope()
    assert first["event_id"] == second["event_id"] == event_id("erp", "customers", {"id": "20"}, change.position)
    assert len(str(first["event_id"])) == 32


def test_resume_skips_committed_and_resends_unconfirmed(erp: Erp) -> None:
    cdc, changes = erp.source(None)
    snapshot_done = take(changes, checkpoints(1))[-1]
    assert isinstance(snapshot_done, Checkpoint)
    cdc.commit(snapshot_done)
    erp.sql("INSERT INTO customers (id, full_name) VALUES (30, 'committed')")
    committed = take(changes, checkpoints(1))
    assert isinstance(committed[-1], Checkpoint)
    cdc.commit(committed[-1])
    erp.sql("INSERT INTO customers (id, full_name) VALUES (31, 'unconfirmed')")
    unconfirmed = take(changes, checkpoints(1))
    idle(changes, 1.0)  # let the feedback reach the server before the connection goes
    cdc.close()
    erp.sql("INSERT INTO customers (id, full_name) VALUES (32, 'while away')")

    resumed, changes = erp.source(Checkpoint(committed[-1].position, snapshot_done=True))
    items = take(changes, checkpoints(2))
    items += idle(changes, 1.0)
    got = [(i.key["id"], i.op, i.snapshot) for i in items if isinstance(i, Change)]
    assert got == [("31", "c", False), ("32", "c", False)]
    again = items[0]
    assert isinstance(again, Change) and isinstance(unconfirmed[0], Change)
    assert again.envelope()["event_id"] == unconfirmed[0].envelope()["event_id"]
    resumed.close()


def test_slot_without_finished_snapshot_resnapshots(erp: Erp) -> None:
    cdc, changes = erp.source(None)
    first = take(changes, lambda items: len(items) >= 1)  # snapshot started, never finished
    assert isinstance(first[0], Change) and first[0].op == "r"
    changes.close()  # as when the process dies mid-snapshot
    cdc.close()
    erp.sql("INSERT INTO customers (id, full_name) VALUES (40, 'Hedy Lamarr')")

    _again, changes = erp.source(None)
    items = take(changes, checkpoints(1))
    snapshot = sorted(i.key["id"] for i in items if isinstance(i, Change) and i.op == "r" and i.snapshot)
    assert snapshot == ["1", "2", "40"]
    assert isinstance(items[-1], Checkpoint) and items[-1].snapshot_done
    assert idle(changes, 1.0) == []
