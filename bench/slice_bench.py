"""Benchmark of the walking skeleton: ERP PostgreSQL → Kafka → Faust → target PostgreSQL on the local stack.

Three phases on one fresh pipeline: the initial snapshot of --rows rows (events/s, process start included);
a burst of --burst inserts committed as fast as the ERP can (end-to-end events/s, and when each stage had
published the burst); then --paced inserts at --rate rows/s, for the p50/p99 latency from the source
commit of a change to its write into the target (target.synced_at - source commit time).
Run: make bench   (or: .venv/bin/python bench/slice_bench.py --help)
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import psycopg
from json_result import write_result
from process_sampler import ProcessSampler
from rich.console import Console
from rich.table import Table

from sandbox.erp import SampleData, insert
from seamline import stack
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack.processes import Supervisor
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


def stream(pipeline: LocalPipeline, data: SampleData, rows: int, per_transaction: int, rate: float | None) -> float:
    """Insert `rows` in transactions of `per_transaction`, at `rate` rows/s (None: as fast as possible)."""
    started = time.monotonic()
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        for sent in range(0, rows, per_transaction):
            if rate is not None:
                time.sleep(max(0.0, started + sent / rate - time.monotonic()))
            insert(conn, list(data.customers(per_transaction)))
    return time.monotonic() - started


def lag_since(pipeline: LocalPipeline, since: float) -> tuple[float, float, float]:
    """p50 and p99 of target write - source commit, and the last write, for rows committed after `since`."""
    with psycopg.connect(pipeline.target_dsn) as conn:
        row = conn.execute(
            """
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
                   extract(epoch FROM max(synced_at) - to_timestamp(%s))
            FROM (SELECT extract(epoch FROM synced_at - updated_at) AS lag, synced_at
                  FROM customers WHERE updated_at >= to_timestamp(%s)) AS streamed
            """,
            (since, since),
        ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1]), float(row[2])


def published_at(pipeline: LocalPipeline, since: float, until: float) -> dict[str, float]:
    """When the source and the processor had each published everything committed between `since` and `until`
    (Kafka record times, seconds after `since`)."""
    config = pipeline.config
    done = {}
    for stage, topic in (
        ("source", source_topic(config.kafka, "erp", "customers")),
        ("processor", canonical_topic(config.kafka, "customer")),
    ):
        stamps = [m.timestamp()[1] / 1000 for m in read_to_end(config.kafka, topic)]
        done[stage] = round(max(stamp for stamp in stamps if stamp < until) - since, 1)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the initial snapshot")
    parser.add_argument("--burst", type=int, default=20_000, help="rows inserted as fast as the ERP can (throughput)")
    parser.add_argument("--paced", type=int, default=6_000, help="rows inserted at --rate (latency)")
    parser.add_argument("--rate", type=float, default=200.0, help="rows/s of the paced phase")
    parser.add_argument("--per-transaction", type=int, default=10, help="rows per source transaction")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
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
        sampler = ProcessSampler({name: child.pid for name, child in supervisor.children.items()}).start()
        snapshot_s = wait_for_count(pipeline, supervisor, args.rows, timeout=600) - started

        burst_from = time.time()
        burst_write_s = stream(pipeline, data, args.burst, args.per_transaction, None)
        wait_for_count(pipeline, supervisor, args.rows + args.burst, timeout=600)
        _, _, burst_s = lag_since(pipeline, burst_from)

        paced_from = time.time()
        stream(pipeline, data, args.paced, args.per_transaction, args.rate)
        wait_for_count(pipeline, supervisor, args.rows + args.burst + args.paced, timeout=600)
        p50, p99, _ = lag_since(pipeline, paced_from)
        usage = sampler.stop()
        elapsed = time.monotonic() - started
        stages = published_at(pipeline, burst_from, paced_from)
    finally:
        supervisor.stop_all()
        pipeline.destroy(info.postgres_dsn)
    events = args.rows + args.burst + args.paced
    result = {
        "snapshot": {"rows": args.rows, "seconds": round(snapshot_s, 1), "per_s": round(args.rows / snapshot_s)},
        "streaming": {
            "rows": args.burst,
            "seconds": round(burst_s, 1),
            "per_s": round(args.burst / burst_s),
            "source_committed_s": round(burst_write_s, 1),
            "published_at_s": stages,
        },
        "latency": {"rate": args.rate, "rows": args.paced, "p50_ms": round(p50 * 1000), "p99_ms": round(p99 * 1000)},
        "processes": {
            process: {**figures.as_dict(elapsed), "cpu_us_per_event": round(figures.cpu_s / events * 1e6)}
            for process, figures in usage.items()
        },
    }
    table = Table(title="ERP PostgreSQL → Kafka → processor → target PostgreSQL, one process each")
    for column in ("phase", "rows", "events/s", "latency p50 / p99"):
        table.add_column(column, justify="right")
    table.add_row("snapshot (process start incl.)", f"{args.rows:,}", f"{result['snapshot']['per_s']:,}", "")
    table.add_row("streaming burst", f"{args.burst:,}", f"{result['streaming']['per_s']:,}", "")
    table.add_row(f"paced at {args.rate:,.0f}/s", f"{args.paced:,}", "", f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms")
    processes = Table(title=f"processes over {elapsed:,.0f} s")
    for column in ("process", "CPU cores", f"CPU µs per event ({events:,})", "RSS first / peak / last"):
        processes.add_column(column, justify="right")
    for process, figures in result["processes"].items():
        rss = f"{figures['rss_first_mb']} / {figures['rss_peak_mb']} / {figures['rss_last_mb']} MB"
        processes.add_row(process, f"{figures['cpu_cores']:.2f}", f"{figures['cpu_us_per_event']:,}", rss)
    Console(stderr=True).print(table, processes)
    write_result(result, args.json)


if __name__ == "__main__":
    main()
