"""Benchmark of the walking skeleton: ERP PostgreSQL → Kafka → Faust → target PostgreSQL on the local stack.

Prints end-to-end events/s for the initial snapshot and for streamed changes, and the p50/p99 latency
from the source commit of a change to its write into the target (target.synced_at - source commit time).
Run: make bench   (or: .venv/bin/python bench/slice_bench.py --rows 20000 --changes 20000)
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import psycopg

from sandbox.erp import SampleData, insert
from seamline import stack
from seamline.local_pipeline import LocalPipeline
from seamline.supervisor import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, source_topic


def target_count(pipeline: LocalPipeline) -> int:
    with psycopg.connect(pipeline.target_dsn) as conn:
        exists = conn.execute("SELECT to_regclass('customers') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT count(*) FROM customers").fetchone()
        return int(row[0]) if row else 0


def wait_for_count(pipeline: LocalPipeline, supervisor: Supervisor, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while (count := target_count(pipeline)) < expected:
        if crashed := supervisor.crashed():
            raise SystemExit(f"{crashed} exited; logs in {pipeline.work_dir / 'logs'}")
        if time.monotonic() > deadline:
            raise SystemExit(f"only {count} of {expected} rows reached the target within {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the initial snapshot")
    parser.add_argument("--changes", type=int, default=20_000, help="rows inserted while streaming")
    parser.add_argument("--per-transaction", type=int, default=100, help="streamed rows per source transaction")
    args = parser.parse_args()

    info = stack.up()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    pipeline = LocalPipeline.create(info, name, Path(info.state_dir) / "bench" / name)
    data = SampleData(seed=1, invalid_every=10**9)
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        insert(conn, list(data.customers(args.rows)))
    supervisor = pipeline.supervisor()
    try:
        started = time.monotonic()
        supervisor.start_all()
        done = wait_for_count(pipeline, supervisor, args.rows, timeout=600)
        snapshot_s = done - started
        streamed_from, write_started = time.time(), time.monotonic()
        with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
            for _ in range(0, args.changes, args.per_transaction):
                insert(conn, list(data.customers(args.per_transaction)))
        write_s = time.monotonic() - write_started
        wait_for_count(pipeline, supervisor, args.rows + args.changes, timeout=600)
        with psycopg.connect(pipeline.target_dsn) as conn:
            row = conn.execute(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
                       extract(epoch FROM max(synced_at) - to_timestamp(%s))
                FROM (SELECT extract(epoch FROM synced_at - updated_at) AS lag, synced_at
                      FROM customers WHERE updated_at >= to_timestamp(%s)) AS streamed
                """,
                (streamed_from, streamed_from),
            ).fetchone()
    finally:
        supervisor.stop_all()
    assert row is not None
    p50, p99, stream_s = row
    print(f"snapshot : {args.rows} rows in {snapshot_s:.1f} s (process start included) = {args.rows / snapshot_s:,.0f} events/s")
    print(f"streaming: {args.changes} inserts in {stream_s:.1f} s = {args.changes / stream_s:,.0f} events/s "
          f"(the ERP committed them in {write_s:.1f} s)")
    print(f"latency source commit → target write: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    config = pipeline.config
    for stage, topic in (("source", source_topic(config.kafka, "erp", "customers")),
                         ("processor", canonical_topic(config.kafka, "customer"))):
        last = max(message.timestamp()[1] for message in read_to_end(config.kafka, topic)) / 1000
        print(f"{stage:9}: its last record of the streamed changes at +{last - streamed_from:.1f} s")


if __name__ == "__main__":
    main()
