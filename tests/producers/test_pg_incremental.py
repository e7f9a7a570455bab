"""Incremental snapshots interleaved with live changes: no key's latest state lost or overtaken."""

from __future__ import annotations

import random
import subprocess
import threading
from pathlib import Path
from typing import Any

import psycopg
import yaml

from producers.postgres_cdc.source import PostgresCdc, request_snapshot
from seamline.connectors.source import Checkpoint
from seamline.events import Change
from tests.command import seamline
from tests.producers.conftest import Erp
from tests.producers.draining import checkpoints, idle, take

ROWS = 300


def fold(items: list[Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The table as a consumer rebuilds it from the changes, in order: the latest event per key wins."""
    table = dict(state or {})
    for item in items:
        if isinstance(item, Change):
            if item.op == "d":
                table.pop(item.key["id"], None)
            else:
                assert item.after is not None
                table[item.key["id"]] = item.after["full_name"]
    return table


def current(erp: Erp) -> dict[str, Any]:
    with psycopg.connect(erp.dsn) as conn:
        return {str(i): name for i, name in conn.execute("SELECT id, full_name FROM customers")}


def writer(erp: Erp, stop: threading.Event) -> None:
    rng = random.Random(7)
    with psycopg.connect(erp.dsn, autocommit=True) as conn:
        while not stop.is_set():
            key = rng.randint(1, ROWS + 20)
            action = rng.random()
            if action < 0.6:
                conn.execute(
                    "INSERT INTO customers (id, full_name) VALUES (%s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name",
                    (key, f"v{rng.random()}"),
                )
            else:
                conn.execute("DELETE FROM customers WHERE id = %s", (key,))


def drain(cdc: PostgresCdc, changes: Any, until: Any, timeout: float = 60) -> list[Any]:
    items = take(changes, until, timeout=timeout)
    for item in items:
        if isinstance(item, Checkpoint):
            cdc.commit(item)
    return items


def snapshot_finished(items: list[Any]) -> bool:
    """A checkpoint carrying snapshot progress, then one without: the snapshot is over."""
    states = [i.state for i in items if isinstance(i, Checkpoint)]
    return any(states) and states[-1] is None


def test_incremental_snapshot_interleaves_with_live_changes(erp: Erp) -> None:
    erp.sql("INSERT INTO customers (id, full_name) SELECT g, 'row ' || g FROM generate_series(3, %s) g", ROWS)
    cdc, changes = erp.source(None, snapshot_chunk_size=17)
    seen = fold(drain(cdc, changes, checkpoints(1)))
    assert seen == current(erp)

    stop = threading.Event()
    thread = threading.Thread(target=writer, args=(erp, stop))
    thread.start()
    try:
        request_snapshot(erp.config(), "customers")
        items = drain(cdc, changes, snapshot_finished)
    finally:
        stop.set()
        thread.join()
    items += idle(changes, 1.5)
    reads = {i.key["id"] for i in items if isinstance(i, Change) and i.op == "r"}
    assert len(reads) > ROWS / 2, "the snapshot read the table"
    assert any(isinstance(i, Checkpoint) and i.state for i in items), "progress travels in checkpoints"
    assert fold(items, seen) == current(erp)


def test_incremental_snapshot_resumes_after_a_restart(erp: Erp) -> None:
    erp.sql("INSERT INTO customers (id, full_name) SELECT g, 'row ' || g FROM generate_series(3, %s) g", ROWS)
    cdc, changes = erp.source(None, snapshot_chunk_size=50)
    drain(cdc, changes, checkpoints(1))
    request_snapshot(erp.config(), "customers")
    items = drain(cdc, changes, lambda got: sum(isinstance(i, Change) and i.op == "r" for i in got) >= 100)
    mid = [i for i in items if isinstance(i, Checkpoint) and i.state]
    assert mid, "a checkpoint with the snapshot's progress"
    idle(changes, 0.5)
    cdc.close()

    resumed, changes = erp.source(mid[-1], snapshot_chunk_size=50)
    more = drain(resumed, changes, lambda got: any(isinstance(i, Checkpoint) and i.state is None for i in got))
    assert not any(isinstance(i, Change) and i.op == "r" and i.key["id"] in {"1", "2"} for i in more), "resumed"
    reads = {i.key["id"] for i in items + more if isinstance(i, Change) and i.op == "r"}
    assert reads == set(current(erp))


def test_the_snapshot_command_writes_a_signal(erp: Erp, tmp_path: Path) -> None:
    config = {
        "sources": {
            "erp": {
                "kind": "postgres_cdc",
                "dsn": erp.dsn,
                "system": "erp",
                "tables": ["customers"],
                "slot": erp.slot,
                "publication": erp.publication,
            }
        }
    }
    path = tmp_path / "seamline.yaml"
    path.write_text(yaml.safe_dump(config))
    erp.sql("CREATE TABLE seamline_signal (id text PRIMARY KEY, type text NOT NULL, data text)")

    def run(table: str) -> subprocess.CompletedProcess[str]:
        return seamline("source", "snapshot", "erp", "--table", table, "-c", str(path))

    done = run("public.customers")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(erp.dsn) as conn:
        assert conn.execute("SELECT type, data FROM seamline_signal").fetchall() == [
            ("execute-snapshot", '{"table": "public.customers"}')
        ]
    refused = run("orders")
    assert refused.returncode == 2 and "orders is not captured by this source" in refused.stderr
