"""The `seamline` command line."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from seamline import logs
from seamline.config import Config, ConfigError, PostgresCdcSource, Sink, WebhookSource, load_config
from seamline.metrics import Metrics
from seamline.replay import GroupChoice
from seamline.stack.cli import stack_app

if TYPE_CHECKING:
    from rich.console import Group

    from seamline.dead_letter_admin import Filter, Letter
    from seamline.status import Status
    from sinks.runner import SinkRunner

app = typer.Typer(help="seamline: keep business systems in sync through Kafka.", no_args_is_help=True)
schemas_app = typer.Typer(help="Check and register the Avro schemas in schemas/.", no_args_is_help=True)
source_app = typer.Typer(help="Run producers.", no_args_is_help=True)
sink_app = typer.Typer(help="Run sinks.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: list, show, replay once the cause is fixed, purge.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(source_app, name="source")
app.add_typer(sink_app, name="sink")
app.add_typer(dlq_app, name="dlq")

console = Console(stderr=True, soft_wrap=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The seamline YAML file.", envvar="SEAMLINE_CONFIG")]
DEFAULT_CONFIG = Path("seamline.yaml")


def _serve_metrics(metrics: Metrics, port: int) -> None:
    """Serve /metrics on SEAMLINE_METRICS_HOST (127.0.0.1 unless set; 0.0.0.0 in containers, for Prometheus)."""
    metrics.serve(port, os.environ.get("SEAMLINE_METRICS_HOST", "127.0.0.1"))


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]invalid configuration[/red]\n{exc}", highlight=False)
        raise typer.Exit(2) from exc


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="The seamline YAML file.")] = DEFAULT_CONFIG) -> None:
    """Validate a configuration file; exit 2 with the line, key and expectation if it is wrong."""
    loaded = _load(config)
    console.print(
        f"[green]ok[/green] {config}: {len(loaded.sources)} source(s), "
        f"{'a' if loaded.processor else 'no'} processor, {len(loaded.sinks)} sink(s)"
    )


@schemas_app.command("check")
def schemas_check(
    config: ConfigOption = DEFAULT_CONFIG,
    schema_dir: Annotated[Path | None, typer.Option(help="Directory of .avsc files (default: schemas/).")] = None,
) -> None:
    """Refuse (exit 1) a schema file that is not backward compatible with its registered version."""
    from seamline.schemas import SCHEMA_DIR
    from seamline.subjects import check
    from seamline.topics import config_topics

    loaded = _load(config)
    results = check(loaded.kafka, config_topics(loaded), schema_dir or SCHEMA_DIR)
    table = Table("subject", "schema file", "verdict")
    for result in results:
        verdict = f"[green]{result.detail}[/green]" if result.compatible else f"[red]{result.detail}[/red]"
        table.add_row(result.subject, result.schema_file, verdict)
    Console().print(table)
    if not all(result.compatible for result in results):
        raise typer.Exit(1)


@schemas_app.command("push")
def schemas_push(
    config: ConfigOption = DEFAULT_CONFIG,
    schema_dir: Annotated[Path | None, typer.Option(help="Directory of .avsc files (default: schemas/).")] = None,
) -> None:
    """Register every topic's schemas (compatibility BACKWARD)."""
    from seamline.schemas import SCHEMA_DIR
    from seamline.subjects import push
    from seamline.topics import config_topics

    loaded = _load(config)
    for subject, schema_id in push(loaded.kafka, config_topics(loaded), schema_dir or SCHEMA_DIR).items():
        Console().print(f"{subject}: id {schema_id}")


@source_app.command("run")
def source_run(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Capture changes of source NAME (or receive them, for a webhook source) and publish them until SIGTERM."""
    from producers.kinds import build_source
    from producers.runner import SourceRunner
    from producers.source import SourceSetupError

    loaded = _load(config)
    if name not in loaded.sources:
        console.print(f"[red]no source {name!r} in {config}[/red]; sources: {', '.join(loaded.sources) or 'none'}")
        raise typer.Exit(2)
    logs.configure()
    settings = loaded.sources[name]
    metrics = Metrics.create()
    _serve_metrics(metrics, settings.metrics_port)
    if isinstance(settings, WebhookSource):  # push source: its own server, not the pull-based runner
        from producers.webhook import WebhookReceiver

        WebhookReceiver(name, loaded.kafka, settings, metrics).run()
        return
    try:
        SourceRunner(loaded.kafka, build_source(name, settings, metrics, loaded.kafka), metrics).run()
    except SourceSetupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@source_app.command("snapshot")
def source_snapshot(
    name: str,
    table: Annotated[str, typer.Option(help="Table to snapshot, 'table' or 'schema.table'.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Ask the running postgres_cdc source NAME for an incremental snapshot of one table."""
    from producers.postgres_cdc import request_snapshot
    from producers.source import SourceSetupError

    source = _load(config).sources.get(name)
    if not isinstance(source, PostgresCdcSource):
        console.print(f"[red]{name!r} is not a postgres_cdc source in {config}[/red]: only those snapshot on demand")
        raise typer.Exit(2)
    try:
        signal = request_snapshot(source, table)
    except SourceSetupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"incremental snapshot of {table} requested (signal {signal}); the running source picks it up")


@app.command()
def process(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the stream processor (cleanse, resolve, merge) until SIGTERM."""
    import faust

    from processors.app import build_app
    from seamline.consumer_lag import LagExporter

    loaded = _load(config)
    if loaded.processor is None:
        console.print(f"[red]{config} has no 'processor' section[/red]: add one to run the processor")
        raise typer.Exit(2)
    logs.configure()
    metrics = Metrics.create()
    _serve_metrics(metrics, loaded.processor.metrics_port)
    LagExporter(loaded.kafka, [loaded.processor.app_id], metrics).start()
    faust.Worker(build_app(loaded, metrics), loglevel="INFO").execute_from_commandline()


def _sink_settings(loaded: Config, name: str, config: Path) -> Sink:
    if name not in loaded.sinks:
        console.print(f"[red]no sink {name!r} in {config}[/red]; sinks: {', '.join(loaded.sinks) or 'none'}")
        raise typer.Exit(2)
    return loaded.sinks[name]


def _sink_runner(loaded: Config, name: str, group_id: str | None = None) -> SinkRunner:
    """The runner of sink NAME, its metrics served on the sink's metrics port."""
    from sinks.kinds import build_sink
    from sinks.runner import SinkRunner

    settings = loaded.sinks[name]
    metrics = Metrics.create()
    _serve_metrics(metrics, settings.metrics_port)
    return SinkRunner(
        name,
        loaded.kafka,
        build_sink(name, settings, metrics),
        settings.entities_written,
        metrics,
        group_id=group_id or settings.group_id,
        batch_size=settings.batch_size,
    )


@sink_app.command("run")
def sink_run(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Write canonical entities into sink NAME until SIGTERM."""
    loaded = _load(config)
    _sink_settings(loaded, name, config)
    logs.configure()
    try:
        _sink_runner(loaded, name).run()
    except PermissionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
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

    from seamline.replay import ReplayError, forget_group, parse_start, plan, replay_group, set_start
    from seamline.topics import sink_group

    loaded = _load(config)
    settings = _sink_settings(loaded, sink, config)
    try:
        ranges = plan(loaded.kafka, list(settings.entities_written), parse_start(start))
        group_id = replay_group(sink_group(sink, settings.group_id), group, datetime.now(UTC))
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
    runner = _sink_runner(loaded, sink, group_id)
    until = {(r.topic, r.partition): r.end for r in ranges if r.records}
    columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"replaying into {sink}", total=total)
        try:
            runner.run(until=until, on_batch=lambda count: progress.advance(task, count))
        except PermissionError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        progress.update(task, completed=total)
    if group == "fresh":
        forget_group(loaded.kafka, group_id)
    console.print(f"[green]replayed[/green] sink {sink} up to the offsets above")


StageOption = Annotated[str | None, typer.Option("--stage", help="Only this stage: cleanse, resolve, sink.<name>.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Only letters whose reason or error class has this text.")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only letters that failed at or after this ISO 8601 time.")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only letters that failed before this ISO 8601 time.")]


def _letter_filter(stage: str | None, reason: str | None, since: str | None, until: str | None) -> Filter:
    from seamline.dead_letter_admin import Filter
    from seamline.times import parse_time

    try:
        return Filter(
            stage,
            reason,
            parse_time(since, "--since") if since else None,
            parse_time(until, "--until") if until else None,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@dlq_app.command("list")
def dlq_list(
    stage: StageOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per letter instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List dead letters, newest last, with their stage, time, error class and reason."""
    import json

    from seamline.dead_letter_admin import DeadLetterError, letters

    loaded = _load(config)
    table = Table("letter", "failed at", "error", "reason", "original record")
    try:
        for letter in letters(loaded.kafka, _letter_filter(stage, reason, since, until)):
            headers = letter.headers
            original = (
                f"{headers.get('original.topic')}[{headers.get('original.partition')}]@{headers.get('original.offset')}"
            )
            failed = letter.failed_at.isoformat() if letter.failed_at else ""
            if as_json:
                print(json.dumps({"letter": letter.ref, "failed_at": failed, **headers}))
            else:
                table.add_row(
                    letter.ref, failed, headers.get("error.class", ""), headers.get("error.reason", ""), original
                )
    except DeadLetterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not as_json:
        Console(width=200).print(table)


@dlq_app.command("show")
def dlq_show(
    letter_ref: Annotated[str, typer.Argument(metavar="LETTER", help="<stage>:<partition>:<offset>, as listed.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show one dead letter: why it failed, where it came from, and the record itself."""
    import json

    from seamline.dead_letter_admin import DeadLetterError, find
    from seamline.serde import AvroSerde, SerdeError

    loaded = _load(config)
    try:
        letter = find(loaded.kafka, letter_ref)
    except DeadLetterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    out = Console()
    for name, value in letter.headers.items():
        out.print(f"[bold]{name}[/bold]: {value}", highlight=False)
    topic = letter.headers.get("original.topic", "")
    try:
        record = AvroSerde(loaded.kafka).decode(topic, letter.value)
        out.print_json(json.dumps(record, default=str, ensure_ascii=False))
    except (SerdeError, ValueError) as exc:
        size = len(letter.value or b"")
        out.print(
            f"record: {size} bytes that are not Avro of {topic} ({exc}); first 64: {(letter.value or b'')[:64]!r}"
        )


@dlq_app.command("replay")
def dlq_replay(
    stage: StageOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Send dead letters back to the stage that refused them, once the cause is fixed: a processor stage's to the
    topic it reads, a sink's through the sink (version-guarded, so a letter older than the target changes nothing)."""
    from seamline.dead_letter_admin import SINK_STAGE, DeadLetterError, letters, republish
    from sinks.kinds import build_sink
    from sinks.letter_replay import write_back

    loaded = _load(config)
    try:
        chosen = list(letters(loaded.kafka, _letter_filter(stage, reason, since, until)))
        by_stage: dict[str, list[Letter]] = {}
        for letter in chosen:
            by_stage.setdefault(letter.stage, []).append(letter)
        for name, batch in by_stage.items():
            if not name.startswith(SINK_STAGE):
                console.print(f"{name}: {republish(loaded.kafka, batch)} letter(s) sent back to the stage's input")
                continue
            sink = name.removeprefix(SINK_STAGE)
            settings = _sink_settings(loaded, sink, config)
            records, outcome = write_back(loaded.kafka, build_sink(sink, settings, Metrics.create()), batch)
            refused = len(outcome.rejected)
            console.print(
                f"{name}: {len(records) - refused} letter(s) written back or already held, {refused} refused again"
            )
            for item in outcome.rejected:
                console.print(
                    f"  [red]still refused[/red] {item.record.topic}@{item.record.offset}: {item.reason}",
                    highlight=False,
                )
    except DeadLetterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not chosen:
        console.print("no dead letters match")


@dlq_app.command("purge")
def dlq_purge(
    stage: Annotated[str, typer.Option("--stage", help="The stage whose letters to delete.")],
    until: Annotated[
        str | None, typer.Option("--until", help="Delete letters written before this ISO 8601 time (default: now).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Delete a stage's dead letters written before a time (Kafka deletes by position, so not by reason)."""
    from seamline.dead_letter_admin import DeadLetterError, purge
    from seamline.times import parse_time

    loaded = _load(config)
    try:
        cut = parse_time(until, "--until") if until else datetime.now(UTC)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not yes:
        typer.confirm(f"delete every dead letter of {stage} written before {cut.isoformat()}?", abort=True)
    try:
        total = purge(
            loaded.kafka, stage, cut, lambda partition, count: console.print(f"  partition {partition}: {count}")
        )
    except DeadLetterError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"purged {total} dead letter(s) of {stage}")


@app.command()
def reconcile(
    sink: Annotated[str, typer.Option("--sink", help="The sink whose target to compare with the canonical state.")],
    repair: Annotated[
        bool, typer.Option("--repair", help="Write again what is missing or differs; delete extras.")
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
    """List every misalignment between sink SINK's target and the canonical topics (missing, extra, differing
    fields, with the values' shapes, never the values); exit 1 if any is left."""
    import dataclasses
    import json
    import time

    from sinks.reconcile import ReconcileError, Reconciliation

    loaded = _load(config)
    metrics = Metrics.create()
    try:
        reconciliation = Reconciliation(sink, loaded.kafka, _sink_settings(loaded, sink, config), metrics)
    except ReconcileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if metrics_port is not None:
        _serve_metrics(metrics, metrics_port)
    while True:
        report = reconciliation.check()
        if as_json:
            for found in report.misalignments:
                print(json.dumps(dataclasses.asdict(found)))
        else:
            table = Table("entity", "id", "misalignment", "fields (canonical → target)")
            for found in report.misalignments:
                fields = ", ".join(f"{name}: {want} → {held}" for name, (want, held) in found.fields.items())
                table.add_row(found.entity, found.id, found.kind, fields)
            Console(width=160).print(table)
        summary = ", ".join(f"{count} {kind} {entity}" for (entity, kind), count in sorted(report.counts().items()))
        console.print(f"{report.compared:,} canonical records compared: {summary or 'all aligned'}")
        if repair and report.misalignments:
            reconciliation.repair(report)
            report = reconciliation.check()
            console.print(f"repaired; {len(report.misalignments)} misalignment(s) left")
        if every is None:
            break
        time.sleep(every)
    if report.misalignments:
        raise typer.Exit(1)


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
    return Group(health, groups, letters, positions)


@app.command()
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

    from seamline.status import StatusReader

    reader = StatusReader(_load(config), host)
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


@app.command()
def demo() -> None:
    """Bring the stack up and run a live ERP → target sync on sample data; exit 0 only if source = target."""
    from seamline.demo import run_demo

    raise typer.Exit(run_demo())
