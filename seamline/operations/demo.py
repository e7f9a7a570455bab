"""`seamline demo`: a live ERP → target sync on the real local stack, checked row by row at the end."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sandbox.erp import ChangeStream, SampleData, insert
from seamline import stack
from seamline.operations.convergence import Comparison, compare, dead_letter_reasons
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack.processes import Supervisor

CUSTOMERS = 3000
CHANGES = 1500
CHANGES_PER_SECOND = 150
TIMEOUT_S = 300

console = Console()


def _progress(phase: str, report: Comparison, changes: ChangeStream | None) -> Table:
    table = Table(title=f"seamline demo: {phase}", title_justify="left")
    for column in ("ERP rows", "in sync in target", "invalid → DLQ", "still differing", "changes applied"):
        table.add_column(column, justify="right")
    applied = "-" if changes is None else ", ".join(f"{n} {kind}s" for kind, n in changes.counts.items())
    table.add_row(
        str(report.source_rows), str(report.matched), str(report.invalid_in_dlq), str(len(report.problems)), applied
    )
    return table


def _wait_in_sync(
    phase: str,
    pipeline: LocalPipeline,
    supervisor: Supervisor,
    changes: ChangeStream | None,
    writer: threading.Thread | None = None,
) -> Comparison:
    config = pipeline.config
    deadline = time.monotonic() + TIMEOUT_S
    with Live(console=console, refresh_per_second=2) as live:
        while True:
            report = compare(config, pipeline.erp_dsn, pipeline.target_dsn)
            live.update(_progress(phase, report, changes))
            writing = writer is not None and writer.is_alive()
            if (report.ok and not writing) or time.monotonic() > deadline or supervisor.crashed():
                return report
            time.sleep(1.0)


def _summary(pipeline: LocalPipeline, report: Comparison, elapsed: float) -> None:
    table = Table(title="source = target?", title_justify="left", show_header=False)
    table.add_row("ERP customers", str(report.source_rows))
    table.add_row("identical in the target database", str(report.matched))
    table.add_row("invalid, in dlq.cleanse with their reason", str(report.invalid_in_dlq))
    table.add_row("problems", str(len(report.problems)))
    table.add_row("time", f"{elapsed:.0f} s")
    console.print(table)
    for key, reason in list(dead_letter_reasons(pipeline.config).items())[:3]:
        console.print(f"  dead letter, erp customer {key}: {reason}", highlight=False)
    for problem in report.problems[:10]:
        console.print(f"  [red]{problem}[/red]", highlight=False)
    console.print(f"Logs and configuration: {pipeline.work_dir}")


def run_demo() -> int:
    """Run the demo; 0 only if every valid ERP row equals its target row and every invalid one is a dead letter."""
    started = time.monotonic()
    console.print("Starting the local stack (Kafka, schema registry, PostgreSQL)…")
    info = stack.up()
    name = "demo_" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    pipeline = LocalPipeline.create(info, name, info.state_dir / "demo" / name, pii=True)
    data = SampleData(seed=2026)
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        insert(conn, list(data.customers(CUSTOMERS)))
    console.print(f"ERP database {name}_erp: {CUSTOMERS} customers (Latin, Bengali, Chinese names; a few bad e-mails)")
    supervisor = pipeline.supervisor()
    supervisor.start_all()
    try:
        report = _wait_in_sync("initial snapshot", pipeline, supervisor, None)
        with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
            changes = ChangeStream(conn, data)
            writer = threading.Thread(target=_apply, args=(changes,), daemon=True)
            writer.start()
            report = _wait_in_sync("live changes", pipeline, supervisor, changes, writer)
            writer.join()
    finally:
        crashed = supervisor.crashed()
        supervisor.stop_all()
        pipeline.drop_slot(info.postgres_dsn)
    for process, code in crashed.items():
        console.print(f"[red]{process} exited with code {code}[/red]\n{supervisor.log_tail(process)}")
    _summary(pipeline, report, time.monotonic() - started)
    ok = report.ok and not crashed
    console.print("[green]source = target[/green]" if ok else "[red]source and target differ[/red]")
    return 0 if ok else 1


def _apply(changes: ChangeStream) -> None:
    """Apply the change stream at a steady pace (the connection is this thread's alone meanwhile)."""
    for _ in range(CHANGES):
        changes.step()
        time.sleep(1 / CHANGES_PER_SECOND)
