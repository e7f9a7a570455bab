"""Benchmark of the postgres_cdc producer alone: rows → Avro through the registry → Kafka (acks=all).

Counts what Kafka holds on the raw topic (sum of high watermarks) while the source runs, for the initial
snapshot and for streamed inserts. Run: .venv/bin/python bench/source_bench.py --help
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from json_result import write_result
from process_sampler import ProcessSampler
from rich.console import Console
from rich.table import Table

from seamline import stack
from seamline.config import KafkaConfig
from seamline.operations.local_pipeline import SOURCE, LocalPipeline
from seamline.stack.processes import Supervisor
from seamline.topic_reader import end_offset
from seamline.topics import source_topic


def wait_published(kafka: KafkaConfig, topic: str, supervisor: Supervisor, expected: int) -> float:
    deadline = time.monotonic() + 600
    while end_offset(kafka, topic) < expected:
        if crashed := supervisor.crashed():
            raise SystemExit(f"{crashed} exited:\n{supervisor.log_tail('source')}")
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {expected} records on {topic} after 600 s")
        time.sleep(0.1)
    return time.monotonic()


def generate(conn: psycopg.Connection, first: int, last: int, row_bytes: int) -> None:
    """Insert customers first..last in one transaction, padded with a note to about `row_bytes` per row."""
    conn.execute(
        "INSERT INTO customers (id, full_name, email, phone, country_code, note) "
        "SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', '+39 06 ' || (1000000 + g), 'IT', "
        "repeat('x', greatest(0, %s - 110)) FROM generate_series(%s::bigint, %s::bigint) g",
        (row_bytes, first, last),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the initial snapshot")
    parser.add_argument("--streamed", type=int, default=50_000, help="rows inserted while streaming")
    parser.add_argument("--per-transaction", type=int, default=1_000, help="streamed rows per transaction")
    parser.add_argument("--row-bytes", type=int, default=200, help="approximate row size in PostgreSQL")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    args = parser.parse_args()

    info = stack.up()
    name = f"srcbench_{uuid.uuid4().hex[:8]}"
    pipeline = LocalPipeline.create(info, name, Path(info.state_dir) / "bench" / name)
    kafka = pipeline.config.kafka
    topic = source_topic(kafka, "erp", "customers")
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN note text")
        generate(conn, 1, args.rows, args.row_bytes)
        row_bytes = conn.execute("SELECT avg(pg_column_size(c.*)) FROM customers c").fetchone()
    supervisor = Supervisor(pipeline.config_path, pipeline.work_dir / "logs", {"source": ["source", "run", SOURCE]})
    try:
        started = time.monotonic()
        supervisor.start_all()
        sampler = ProcessSampler({"source": supervisor.children["source"].pid}).start()
        snapshot_s = wait_published(kafka, topic, supervisor, args.rows) - started
        stream_started = time.monotonic()
        with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
            for first in range(args.rows + 1, args.rows + args.streamed + 1, args.per_transaction):
                last = min(first + args.per_transaction, args.rows + args.streamed + 1) - 1
                generate(conn, first, last, args.row_bytes)
        committed_s = time.monotonic() - stream_started
        stream_s = wait_published(kafka, topic, supervisor, args.rows + args.streamed) - stream_started
        usage = sampler.stop()["source"]
        elapsed = time.monotonic() - started
    finally:
        supervisor.stop_all()
        pipeline.destroy(info.postgres_dsn)
    result: dict[str, Any] = {
        "row_bytes": round(float(row_bytes[0])) if row_bytes else None,
        "snapshot": {"rows": args.rows, "seconds": round(snapshot_s, 1), "per_s": round(args.rows / snapshot_s)},
        "streaming": {
            "rows": args.streamed,
            "seconds": round(stream_s, 1),
            "per_s": round(args.streamed / stream_s),
            "source_committed_s": round(committed_s, 1),
        },
        "process": usage.as_dict(elapsed),
    }
    table = Table(title=f"postgres_cdc alone, {result['row_bytes']}-byte rows, Avro through the registry, acks=all")
    for column in ("phase", "rows", "seconds", "events/s"):
        table.add_column(column, justify="right")
    for phase in ("snapshot", "streaming"):
        figures = result[phase]
        table.add_row(phase, f"{figures['rows']:,}", f"{figures['seconds']:.1f}", f"{figures['per_s']:,}")
    Console(stderr=True).print(table, f"CPU {usage.cpu_s / elapsed:.2f} cores, peak RSS {usage.peak_rss_mb:.0f} MB")
    write_result(result, args.json)


if __name__ == "__main__":
    main()
