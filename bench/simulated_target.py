"""What the SaaS sink benchmarks share: a simulation served in its own process, and a target written three times
(new records, their next version, a stale redelivery of the first) with records/s and CPU per record."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from seamline.connectors.sink import Outcome, Sink, SinkRecord
from seamline.stack.ports import free_port, port_open


@contextmanager
def simulation(module: str, *args: str) -> Iterator[str]:
    """`python -m <module> --port P ARGS` in its own process, so that it does not share the sink's CPU; its URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the simulation {module} did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def timed(write: Callable[[list[SinkRecord]], Outcome], records: list[SinkRecord], batch: int) -> tuple[float, float]:
    """(records/s, CPU µs per record) of writing the records in batches; every record must be written."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(records), batch):
        outcome = write(records[start : start + batch])
        if outcome.rejected or outcome.unchanged:
            raise SystemExit(f"unexpected: {len(outcome.rejected)} rejected, {len(outcome.unchanged)} unchanged")
    seconds = time.perf_counter() - started
    return len(records) / seconds, (time.process_time() - cpu) / len(records) * 1e6


def customer(number: int, version: int) -> SinkRecord:
    """Version `version` of customer c<number> as the sink reads it: a person in Hamburg with e-mail and phone."""
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


def three_phases(target: Sink, count: int, batch: int) -> dict[str, Any]:
    """Write `count` new customers, then their version 2, then version 1 again (which must change nothing), in
    writes of `batch`; the rates and the CPU per record of the first two."""
    target.setup()
    try:
        creates, create_cpu = timed(target.write, [customer(n, 1) for n in range(count)], batch)
        updates, update_cpu = timed(target.write, [customer(n, 2) for n in range(count)], batch)
        started = time.perf_counter()
        stale = target.write([customer(n, 1) for n in range(count)])
        stale_per_s = count / (time.perf_counter() - started)
    finally:
        target.close()
    if stale.rejected or len(stale.unchanged) != count:
        raise SystemExit("the target does not hold version 2 of every record")
    return {
        "records": count,
        "create_per_s": creates,
        "update_per_s": updates,
        "stale_per_s": stale_per_s,
        "create_cpu_us": create_cpu,
        "update_cpu_us": update_cpu,
    }


def print_results(title: str, results: list[dict[str, Any]], leading: tuple[str, ...]) -> None:
    """The results of `three_phases` as a table on stderr, with the `leading` keys of each result first."""
    table = Table(title=title)
    for column in (*leading, "records", "creates/s", "updates/s", "stale/s", "CPU µs/create", "CPU µs/update"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            *(str(r[key]) for key in leading),
            f"{r['records']:,}",
            f"{r['create_per_s']:,.0f}",
            f"{r['update_per_s']:,.0f}",
            f"{r['stale_per_s']:,.0f}",
            f"{r['create_cpu_us']:,.0f}",
            f"{r['update_cpu_us']:,.0f}",
        )
    Console(stderr=True).print(table)
