"""The benchmark suite: each stage alone and the whole path, one table against the aims of BENCHMARKS.md.

Runs, one after the other on the local stack (nothing else should run meanwhile):
  source_bench.py         postgres_cdc alone, snapshot and streaming
  processor_bench.py      one `seamline process` worker on a mix of customers, products, orders and stock
  postgres_sink_bench.py  the postgres sink's version-guarded write paths
  replay_bench.py         `seamline replay` rebuilding an empty target from canonical customers
  slice_bench.py          ERP PostgreSQL → Kafka → processor → target PostgreSQL, throughput, then latency at a
                          paced rate
Each writes its JSON result; the suite prints the table and writes every result into one JSON document.
Run: make bench   (--quick for smaller sizes that finish in a few minutes)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from json_result import write_result
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent

FULL = {
    "source": ["--rows", "50000", "--streamed", "50000"],
    "processor": ["--events", "50000"],
    "postgres_sink": ["--rows", "50000", "--orders", "10000", "--batch-sizes", "2000"],
    "replay": ["--customers", "1000000"],
    "slice": ["--rows", "20000", "--burst", "40000", "--paced", "20000", "--rate", "2000"],
}
QUICK = {
    "source": ["--rows", "10000", "--streamed", "10000"],
    "processor": ["--events", "5000"],
    "postgres_sink": ["--rows", "10000", "--orders", "2000", "--batch-sizes", "2000"],
    "replay": ["--customers", "100000"],
    "slice": ["--rows", "5000", "--burst", "5000", "--paced", "4000", "--rate", "2000"],
}
SCRIPTS = {
    "source": "source_bench.py",
    "processor": "processor_bench.py",
    "postgres_sink": "postgres_sink_bench.py",
    "replay": "replay_bench.py",
    "slice": "slice_bench.py",
}


def run(name: str, args: list[str], work: Path) -> dict[str, Any]:
    """Run one benchmark script; its JSON result."""
    out = work / f"{name}.json"
    Console(stderr=True).rule(f"{SCRIPTS[name]} {' '.join(args)}")
    subprocess.run([sys.executable, str(BENCH / SCRIPTS[name]), *args, "--json", str(out)], check=True)
    return dict(json.loads(out.read_text()))


def rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(what, aim, measured) for each aim of BENCHMARKS.md."""
    source, processor, sink = results["source"], results["processor"], results["postgres_sink"]
    replay, whole = results["replay"], results["slice"]
    copy = next(r for r in sink["results"] if r["write_path"] == "copy")
    rss = {
        "postgres_cdc": source["process"]["rss_peak_mb"],
        "processor": processor["end_to_end"]["process"]["rss_peak_mb"],
        "replay": replay["process"]["rss_peak_mb"],
        **{f"{name} (whole path)": figures["rss_peak_mb"] for name, figures in whole["processes"].items()},
    }
    heaviest = max(rss, key=lambda name: rss[name])
    latency = whole["latency"]
    return [
        ("end to end, PostgreSQL → canonical → PostgreSQL", "≥ 20,000 events/s", f"{whole['streaming']['per_s']:,}"),
        (
            f"change-to-target latency at {latency['rate']:,.0f} events/s offered",
            "p99 ≤ 250 ms, p50 ≤ 50 ms",
            f"p99 {latency['p99_ms']:,} ms, p50 {latency['p50_ms']:,} ms",
        ),
        ("postgres_cdc producer alone (streaming)", "≥ 50,000 events/s", f"{source['streaming']['per_s']:,}"),
        (
            "processors (cleanse + resolve + merge), one worker",
            "≥ 20,000 events/s",
            f"{processor['end_to_end']['events_per_s']:,}",
        ),
        (
            "postgres sink alone, version-guarded upserts (copy)",
            "≥ 30,000 rows/s",
            f"inserts {copy['insert_per_s']:,.0f}, updates {copy['update_per_s']:,.0f}",
        ),
        (
            f"replay: rebuild a target of {replay['customers']:,} canonical customers",
            "≤ 60 s for 1,000,000",
            f"{replay['replay_s']:,} s ({replay['replay_per_s']:,}/s)",
        ),
        ("memory of any one seamline process", "≤ 300 MB RSS", f"{rss[heaviest]:,} MB peak ({heaviest})"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a check of the suite, not figures")
    parser.add_argument("--json", help="write every result to this file instead of stdout")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as work:
        results = {name: run(name, sizes[name], Path(work)) for name in SCRIPTS}
    table = Table(title="seamline benchmarks" + (" (quick sizes)" if args.quick else ""))
    for column in ("what", "aim", "measured"):
        table.add_column(column)
    for row in rows(results):
        table.add_row(*row)
    Console(stderr=True).print(table)
    write_result({"quick": args.quick, "sizes": sizes, "results": results}, args.json)


if __name__ == "__main__":
    main()
