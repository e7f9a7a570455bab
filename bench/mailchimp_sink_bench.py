"""Benchmark of the mailchimp sink: records/s into the Mailchimp simulation, and the sink's CPU per record.

For each way of writing, a fresh simulated audience (`python -m sandbox.mailchimp` in its own process, so that it
does not share this one's CPU) with --latency-ms added to every call receives new customers, then their next
version, then a stale redelivery of the first (a read of the members changed since the last batch only).
"single calls": one PUT and one tags call per customer, 10 at a time; "batch operations": one POST /3.0/batches
per write, polled until finished (each runs --batch-ms after it is submitted). MailchimpTarget.write is called
directly, without Kafka; CPU is this process's (the sink's), per record.
Run: make bench-mailchimp-sink   (or: .venv/bin/python bench/mailchimp_sink_bench.py --help).
"""

from __future__ import annotations

import argparse
from typing import Any

from json_result import write_result
from simulated_target import print_results, simulation, three_phases

from sinks.mailchimp.config import MailchimpSink
from sinks.mailchimp.target import MailchimpTarget

MODES = {"single calls": 1_000_000, "batch operations": 1}
"""Way of writing -> batch_threshold."""


def config(url: str, threshold: int) -> MailchimpSink:
    fields = {"email_address": "email", "merge_fields.FNAME": "name", "tags": {"constant": "customer"}}
    return MailchimpSink.model_validate(
        {
            "kind": "mailchimp",
            "base_url": url,
            "api_key": "sim-key-us1",
            "list_id": "a1b2c3d4e5",
            "batch_threshold": threshold,
            "entities": {"customer": {"fields": fields}},
        }
    )


def measure(mode: str, batch: int, count: int, latency_ms: float, batch_ms: float) -> dict[str, Any]:
    args = ("--latency-ms", str(latency_ms), "--batch-ms", str(batch_ms))
    with simulation("sandbox.mailchimp", *args) as url:
        target = MailchimpTarget("bench", config(url, MODES[mode]))
        return {"mode": mode, "batch": batch, **three_phases(target, count, batch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency the simulation adds to every call")
    parser.add_argument("--batch-ms", type=float, default=200.0, help="time before a batch operation runs")
    parser.add_argument("--batch", type=int, default=500, help="records per write (the runner's batch_size)")
    parser.add_argument("--records", type=int, default=2000, help="customers per phase")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    args = parser.parse_args()
    results = [measure(mode, args.batch, args.records, args.latency_ms, args.batch_ms) for mode in MODES]
    title = f"mailchimp sink into the simulation, {args.latency_ms:.0f} ms per call, "
    title += f"batches run after {args.batch_ms:.0f} ms"
    print_results(title, results, ("mode", "batch"))
    write_result({"latency_ms": args.latency_ms, "batch_ms": args.batch_ms, "results": results}, args.json)


if __name__ == "__main__":
    main()
