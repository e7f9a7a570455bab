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
from typing import Any

from json_result import write_result
from simulated_target import print_results, simulation, three_phases

from sandbox.zendesk import Zendesk
from sinks.zendesk.config import ZendeskSink
from sinks.zendesk.target import ZendeskTarget


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


def measure(batch: int, count: int, latency_ms: float, job_ms: float) -> dict[str, Any]:
    args = ("--tickets", "0", "--latency-ms", str(latency_ms), "--job-ms", str(job_ms))
    with simulation("sandbox.zendesk", *args) as url:
        return {"batch": batch, **three_phases(ZendeskTarget("bench", config(url)), count, batch)}


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
    print_results(title, results, ("batch",))
    write_result({"latency_ms": args.latency_ms, "job_ms": args.job_ms, "results": results}, args.json)


if __name__ == "__main__":
    main()
