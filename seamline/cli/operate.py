"""`seamline replay`, `reconcile` and `status`: rebuild a target, compare it with the canonical state, look at
the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from seamline import logs, runtime
from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load, serve_metrics, sink_runner, sink_settings
from seamline.metrics import Metrics
from seamline.operations.replay import GroupChoice

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Group

    from producers.postgres_cdc.reconcile import SourceReconciliation
    from seamline.config import Config
    from seamline.operations.status import Status
    from sinks.reconcile import Reconciliation


def replay(
    sink: Annotated[str, typer.Option("--sink", help="The sink whose target to rebuild.")],
    start: Annotated[
        str, typer.Option("--from", help="'earliest', or an ISO 8601 time: replay what was published since.")
    ] = "earliest",
    group: Annotated[
        GroupChoice,
        typer.Option(
            help="fresh: a new consumer group, the running sink untouched; reset: the sink's own group "
            "(stop the sink first; it goes on from the replay's end)."
        ),
    ] = "fresh",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be read; write nothing.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Rebuild sink SINK's target from the canonical topics, with version-guarded, idempotent writes."""
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    from seamline.operations.replay import ReplayError, forget_group, parse_start, plan, replay_group, set_start
    from seamline.topics import sink_group

    loaded = load(config)
    settings = sink_settings(loaded, sink, config)
    try:
        ranges = plan(loaded.kafka, list(settings.entities_written), parse_start(start))
        group_id = replay_group(sink_group(loaded.kafka, sink, settings.group_id), group, datetime.now(UTC))
        table = Table("topic", "partition", "from offset", "to offset", "records", title=f"replay of sink {sink}")
        for r in ranges:
            table.add_row(r.topic, str(r.partition), str(r.start), str(r.end), f"{r.records:,}")
        total = sum(r.records for r in ranges)
        Console(stderr=True).print(table, f"{total:,} records at most, read with consumer group {group_id}")
        if dry_run:
            return
        set_start(loaded.kafka, group_id, ranges)
    except ReplayError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    logs.configure()
    try:
        runner = sink_runner(loaded, sink, group_id, serve=group == "reset")
        until = {(r.topic, r.partition): r.end for r in ranges if r.records}
        columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"replaying into {sink}", total=total)
            runtime.run(lambda: runner.run(until=until, on_batch=lambda count: progress.advance(task, count)))
            progress.update(task, completed=total)
    finally:
        if group == "fresh":  # its own group, finished or failed: none is left behind
            forget_group(loaded.kafka, group_id)
    console.print(f"[green]replayed[/green] sink {sink} up to the offsets above")


def reconcile(
    sink: Annotated[
        str | None, typer.Option("--sink", help="The sink whose target to compare with the canonical state.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="The source whose rows to compare with the golden records' links.")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="A sink: write again what is missing or differs, delete extras. A source: publish a delete for "
            "every row linked but gone from its table.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per misalignment instead of a table.")
    ] = False,
    every: Annotated[
        float | None, typer.Option("--every", help="Check again every this many seconds, serving the gauge.")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve seamline_reconcile_misaligned on this port.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List every misalignment between a sink's target, or a source, and the canonical topics (missing, extra,
    differing fields, with the values' shapes, never the values); exit 1 if any is left."""
    import dataclasses
    import json
    import time

    from producers.postgres_cdc.reconcile import SourceReconciliation
    from seamline.misalignment import ReconcileError
    from sinks.reconcile import Reconciliation

    loaded = load(config)
    metrics = Metrics.create()
    try:
        reconciliation = _reconciliation(loaded, sink, source, repair, metrics, config)
    except ReconcileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if metrics_port is not None:
        serve_metrics(metrics, metrics_port, "reconcile", f"sink.{sink}" if sink else f"source.{source}")
    while True:
        report = reconciliation.check()
        if as_json:
            for found in report.misalignments:
                print(json.dumps(dataclasses.asdict(found)))
        else:
            table = Table("entity", "id", "misalignment", "fields (canonical → held)")
            for found in report.misalignments:
                fields = ", ".join(f"{name}: {want} → {held}" for name, (want, held) in found.fields.items())
                table.add_row(found.entity, found.id, found.kind, fields)
            Console(width=160).print(table)
        summary = ", ".join(f"{count} {kind} {entity}" for (entity, kind), count in sorted(report.counts().items()))
        console.print(f"{report.compared:,} records compared: {summary or 'all aligned'}")
        if repair and report.misalignments and isinstance(reconciliation, Reconciliation):
            reconciliation.repair(report)
            report = reconciliation.check()
            console.print(f"repaired; {len(report.misalignments)} misalignment(s) left")
        elif repair and report.misalignments and isinstance(reconciliation, SourceReconciliation):
            console.print(_source_repaired(source, reconciliation.repair(report)))
            report = dataclasses.replace(report, misalignments=[m for m in report.misalignments if m.kind != "extra"])
        if every is None:
            break
        time.sleep(every)
    if report.misalignments:
        raise typer.Exit(1)


def _reconciliation(
    loaded: Config, sink: str | None, source: str | None, repair: bool, metrics: Metrics, config: Path
) -> Reconciliation | SourceReconciliation:
    from producers.postgres_cdc.config import PostgresCdcSource
    from producers.postgres_cdc.reconcile import SourceReconciliation
    from seamline.misalignment import ReconcileError
    from sinks.reconcile import Reconciliation

    if (sink is None) == (source is None):
        raise ReconcileError("name one of --sink NAME or --source NAME")
    if sink is not None:
        return Reconciliation(sink, loaded.kafka, sink_settings(loaded, sink, config), metrics, loaded.cipher())
    assert source is not None
    settings = loaded.sources.get(source)
    if settings is None:
        raise ReconcileError(f"no source {source!r} in {config}; sources: {', '.join(loaded.sources) or 'none'}")
    if not isinstance(settings, PostgresCdcSource) or loaded.processor is None:
        raise ReconcileError(
            f"source {source} cannot be reconciled: it must be a postgres_cdc source, with a processor section "
            "mapping its tables, in the same file"
        )
    return SourceReconciliation(source, loaded.kafka, settings, loaded.processor, metrics)


def _source_repaired(source: str | None, deletes: int) -> str:
    """What a source repair did, and what it leaves to do."""
    return (
        f"published {deletes} delete(s) of rows source {source} no longer has; the processor and the sinks remove "
        f"them. Rows reported missing are published again by `seamline source snapshot {source} --table TABLE`"
    )


def _status_tables(status: Status) -> Group:
    from rich.console import Group

    health = Table("part", "state", "detail", title="stack and processes")
    for part in status.health:
        health.add_row(part.name, "[green]up[/green]" if part.up else "[red]down[/red]", part.detail)
    groups = Table("consumer group", "process", "lag", "committed", "records/s", title="consumer groups")
    for group in status.groups:
        rate = "…" if group.per_second is None else f"{group.per_second:,.1f}"
        groups.add_row(group.group, group.process, f"{group.lag:,}", f"{group.committed:,}", rate)
    letters = Table("stage", "dead letters", title="dead letter queues")
    for stage, depth in status.dead_letters.items():
        letters.add_row(stage, f"[red]{depth:,}[/red]" if depth else "0")
    positions = Table("source", "position", "stored", title="source positions")
    for source in status.positions:
        age = "" if source.age_s is None else f"{source.age_s:,.0f}s ago"
        positions.add_row(source.source, source.position, age)
    targets = Table("job", "process", "instance", "health", "last scrape error", title="prometheus targets")
    for target in status.targets:
        state = f"[green]{target.health}[/green]" if target.health == "up" else f"[red]{target.health}[/red]"
        targets.add_row(target.job, target.process, target.instance, state, target.error)
    return Group(health, groups, letters, positions, *([targets] if status.targets else []))


def status(
    watch: Annotated[float | None, typer.Option("--watch", help="Refresh every this many seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of tables.")] = False,
    host: Annotated[str, typer.Option(help="Host where the processes serve their metrics.")] = "127.0.0.1",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Per process and consumer group: health, lag, throughput, DLQ depth, source positions. Exit 1 if a part is
    down."""
    import dataclasses
    import json
    import time

    from rich.live import Live

    from seamline.operations.status import StatusReader

    reader = StatusReader(load(config), host)
    look = reader.look()
    if as_json:
        print(json.dumps(dataclasses.asdict(look)))
    elif watch is None:
        time.sleep(2)  # a second look, for throughput
        look = reader.look()
        Console(width=160).print(_status_tables(look))
    else:
        with Live(_status_tables(look), console=Console(), screen=False) as live:
            while True:
                time.sleep(watch)
                look = reader.look()
                live.update(_status_tables(look))
    if not all(part.up for part in look.health):
        raise typer.Exit(1)
