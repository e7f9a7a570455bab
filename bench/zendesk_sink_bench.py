"""Benchmark of the zendesk sink: records/s into the Zendesk simulation, and the sink's CPU per record.

For each batch size, a fresh simulated account (`python -m sandbox.zendesk` in its own process, so that it does
not share this one's CPU) with --latency-ms added to every call and --job-ms before each background job runs
receives new customers (per 100: a show_many read, a create_or_update_many job and its polls), then their next
version, then a stale redelivery of the first (reads only). ZendeskTarget.write is called directly, without
Kafka; CPU is this process's (the sink's), per record.
Run: make bench-zendesk-sink   (or: .venv/bin/python bench/zendesk_sink_bench.py --help).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from json_result import write_result
from rich.console import Console
from rich.table import Table

from sandbox.zendesk import Zendesk
from seamline.connectors.sink import Outcome, SinkRecord
from seamline.stack.ports import free_port, port_open
from sinks.zendesk.config import ZendeskSink
from sinks.zendesk.target import ZendeskTarget


def customer(number: int, version: int) -> SinkRecord:
    value: dict[str, Any] = {
        "id": f"c{number:07d}",
        "version": version,
        "name": f"Kundin {number} v{version}",
        "email": f"kundin{number}@example.com",
        "phone": f"+4940{number:07d}",
        "city": "Hamburg",
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [],
        "origin": "erp",
        "updated_at": 1_767_225_600_000 + version,
    }
    return SinkRecord("customer", value["id"], value, "bench", 0, number, None, None)


def config(url: str) -> ZendeskSink:
    account = Zendesk()
    return ZendeskSink.model_validate(
        {
            "kind": "zendesk",
            "base_url": url,
            "auth": {"kind": "api_token", "user": account.email, "token": account.api_token},
            "entities": {"customer": {"fields": {"name": "name", "email": "email", "phone": "phone"}}},
        }
    )


def timed(write: Callable[[list[SinkRecord]], Outcome], records: list[SinkRecord], batch: int) -> tuple[float, float]:
    """(records/s, CPU µs per record) of writing the records in batches; every record must be written."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(records), batch):
        outcome = write(records[start : start + batch])
        if outcome.rejected or outcome.unchanged:
            raise SystemExit(f"unexpected: {len(outcome.rejected)} rejected, {len(outcome.unchanged)} unchanged")
    seconds = time.perf_counter() - started
    return len(records) / seconds, (time.process_time() - cpu) / len(records) * 1e6


def measure(batch: int, count: int, latency_ms: float, job_ms: float) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-m", "sandbox.zendesk", "--port", str(port), "--tickets", "0"]
    argv += ["--latency-ms", str(latency_ms), "--job-ms", str(job_ms)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the Zendesk simulation did not start")
            time.sleep(0.1)
        target = ZendeskTarget("bench", config(f"http://127.0.0.1:{port}"))
        target.setup()
        try:
            creates, create_cpu = timed(target.write, [customer(n, 1) for n in range(count)], batch)
            updates, update_cpu = timed(target.write, [customer(n, 2) for n in range(count)], batch)
            started = time.perf_counter()
            stale = target.write([customer(n, 1) for n in range(count)])
            stale_per_s = count / (time.perf_counter() - started)
        finally:
            target.close()
    finally:
        server.terminate()
        server.wait(10)
    if stale.rejected or len(stale.unchanged) != count:
        raise SystemExit("the account does not hold version 2 of every record")
    return {
        "batch": batch,
        "records": count,
        "create_per_s": creates,
        "update_per_s": updates,
        "stale_per_s": stale_per_s,
        "create_cpu_us": create_cpu,
        "update_cpu_us": update_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency the simulation adds to every call")
    parser.add_argument("--job-ms", type=float, default=200.0, help="time before a background job runs")
    parser.add_argument("--batches", default="100,500", help="comma-separated batch sizes (the runner's batch_size)")
    parser.add_argument("--records", type=int, default=2000, help="customers per phase")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    args = parser.parse_args()
    results = [measure(int(n), args.records, args.latency_ms, args.job_ms) for n in args.batches.split(",")]
    title = f"zendesk sink into the simulation, {args.latency_ms:.0f} ms per call, jobs run after {args.job_ms:.0f} ms"
    table = Table(title=title)
    for column in ("batch", "records", "creates/s", "updates/s", "stale/s", "CPU µs/create", "CPU µs/update"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            str(r["batch"]),
            f"{r['records']:,}",
            f"{r['create_per_s']:,.0f}",
            f"{r['update_per_s']:,.0f}",
            f"{r['stale_per_s']:,.0f}",
            f"{r['create_cpu_us']:,.0f}",
            f"{r['update_cpu_us']:,.0f}",
        )
    Console(stderr=True).print(table)
    write_result({"latency_ms": args.latency_ms, "job_ms": args.job_ms, "results": results}, args.json)


if __name__ == "__main__":
    main()
