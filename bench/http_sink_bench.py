"""Benchmark of the http sink: records/s into the S/4HANA simulation with a fixed latency per call.

For each concurrency, a fresh simulated tenant (`python -m sandbox.s4hana` in its own process, so that it
does not share this one's CPU) with --latency-ms added to every call receives new customers (a read, then
a create: two calls each), then their next version (a read, then an update). HttpTarget.write is called
directly in batches of 500, without Kafka. The ceiling set by the target is
concurrency / (2 x latency); the table shows how near the sink comes to it.
Run: make bench-http-sink   (or: .venv/bin/python bench/http_sink_bench.py --help).
"""

from __future__ import annotations

import argparse
from typing import Any

from json_result import write_result
from rich.console import Console
from rich.table import Table
from simulated_target import customer, simulation, timed

from sandbox.s4hana import ROOT, S4HanaSim
from seamline.metrics import Metrics
from sinks.http.config import HttpSink
from sinks.http.target import HttpTarget

PATH = "API_BUSINESS_PARTNER/A_BusinessPartner"
BATCH = 500


def config(url: str, sim: S4HanaSim, concurrency: int) -> HttpSink:
    return HttpSink.model_validate(
        {
            "kind": "http",
            "base_url": f"{url}{ROOT}",
            "auth": {"kind": "basic", "user": sim.user, "password": sim.password},
            "format": "odata_v2",
            "csrf_path": "/API_BUSINESS_PARTNER/",
            "concurrency": concurrency,
            "entities": {
                "customer": {
                    "collection": f"/{PATH}",
                    "item": f"/{PATH}('{{key}}')",
                    "key_field": "BusinessPartner",
                    "version_field": "YY1_SeamlineVersion",
                    "fields": {
                        "BusinessPartner": "id",
                        "YY1_SeamlineVersion": "version",
                        "BusinessPartnerFullName": "name",
                        "EmailAddress": "email",
                        "CityName": "city",
                    },
                }
            },
        }
    )


def measure(concurrency: int, latency_s: float, seconds: float) -> dict[str, Any]:
    count = max(50, int(seconds * concurrency / (2 * latency_s)))
    with simulation("sandbox.s4hana", "--latency", str(latency_s)) as url:
        target = HttpTarget("bench", config(url, S4HanaSim(), concurrency), Metrics.create())
        target.setup()
        try:
            creates, _ = timed(target.write, [customer(n, 1) for n in range(count)], BATCH)
            updates, _ = timed(target.write, [customer(n, 2) for n in range(count)], BATCH)
            stale = target.write([customer(n, 1) for n in range(0, count, max(1, count // 20))])
        finally:
            target.close()
    if stale.rejected or len(stale.unchanged) != len(range(0, count, max(1, count // 20))):
        raise SystemExit("the target does not hold version 2 of every record")
    ceiling = concurrency / (2 * latency_s)
    return {
        "concurrency": concurrency,
        "records": count,
        "create_per_s": creates,
        "update_per_s": updates,
        "ceiling_per_s": ceiling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency the simulation adds to every call")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated concurrency limits")
    parser.add_argument("--seconds", type=float, default=5.0, help="about how long each phase runs at the ceiling")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    args = parser.parse_args()
    latency_s = args.latency_ms / 1000
    results = [measure(int(n), latency_s, args.seconds) for n in args.concurrency.split(",")]
    table = Table(title=f"http sink into the S/4HANA simulation, {args.latency_ms:.0f} ms per call")
    for column in ("concurrency", "records", "creates/s", "updates/s", "ceiling/s", "of ceiling"):
        table.add_column(column, justify="right")
    for r in results:
        share = min(r["create_per_s"], r["update_per_s"]) / r["ceiling_per_s"]
        table.add_row(
            str(r["concurrency"]),
            f"{r['records']:,}",
            f"{r['create_per_s']:,.0f}",
            f"{r['update_per_s']:,.0f}",
            f"{r['ceiling_per_s']:,.0f}",
            f"{share:.0%}",
        )
    Console(stderr=True).print(table)
    write_result({"latency_ms": args.latency_ms, "results": results}, args.json)


if __name__ == "__main__":
    main()
