"""The `seamline` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from producers.postgres_cdc.config import PostgresCdcSource
from seamline import logs, runtime
from seamline.cli.acls import acls
from seamline.cli.dlq import dlq_app
from seamline.cli.dq import dq_app
from seamline.cli.golden import golden_app
from seamline.cli.match import match_app
from seamline.cli.operate import reconcile, replay, status
from seamline.cli.pii import pii_app
from seamline.cli.stack import stack_app
from seamline.cli.suggestions import suggestions_app
from seamline.cli.support import (
    DEFAULT_CONFIG,
    ConfigOption,
    console,
    load,
    serve_metrics,
    sink_runner,
    sink_settings,
    source_settings,
)
from seamline.config import Config
from seamline.metrics import Metrics
from seamline.processor_config import ProcessorConfig
from seamline.topics import identity_topic, processor_input_topics

app = typer.Typer(help="seamline: keep business systems in sync through Kafka.", no_args_is_help=True)
schemas_app = typer.Typer(help="Check and register the Avro schemas in schemas/.", no_args_is_help=True)
source_app = typer.Typer(help="Run producers.", no_args_is_help=True)
sink_app = typer.Typer(help="Run sinks.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(source_app, name="source")
app.add_typer(sink_app, name="sink")
app.add_typer(dlq_app, name="dlq")
app.add_typer(dq_app, name="dq")
app.add_typer(match_app, name="match")
app.add_typer(pii_app, name="pii")
app.add_typer(suggestions_app, name="suggestions")
app.add_typer(golden_app, name="golden")
for command in (replay, reconcile, status, acls):
    app.command()(command)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The seamline YAML file.")] = DEFAULT_CONFIG,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect", help="Also read the sources' databases: every table and every mapped column must exist."
        ),
    ] = False,
) -> None:
    """Validate a configuration file; exit 2 with the line, key and expectation if it is wrong."""
    from seamline.config_checks import port_clashes, source_problems
    from seamline.config_file import explain_problems

    loaded = load(config)
    problems = port_clashes(loaded) + (source_problems(loaded) if connect else [])
    if problems:
        located = explain_problems(problems, config.read_text(encoding="utf-8"), config)
        console.print(f"[red]invalid configuration[/red]\n{located}", highlight=False)
        raise typer.Exit(2)
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

    loaded = load(config)
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

    loaded = load(config)
    for subject, schema_id in push(loaded.kafka, config_topics(loaded), schema_dir or SCHEMA_DIR).items():
        Console().print(f"{subject}: id {schema_id}")


@source_app.command("run")
def source_run(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Capture changes of source NAME (or receive them, for a webhook source) and publish them until SIGTERM."""
    from producers.runner import SourceRunner
    from seamline.connectors.registry import source_kind
    from seamline.connectors.source import Source

    loaded = load(config)
    settings = source_settings(loaded, name, config)
    logs.configure()
    metrics = Metrics.create()
    serve_metrics(metrics, settings.metrics_port, "source", name)
    opened = source_kind(settings.kind).open(name, settings, loaded.kafka, metrics)
    if isinstance(opened, Source):  # pulled by the shared runner; a push source runs its own server
        runtime.run(SourceRunner(loaded.kafka, opened, metrics).run)
    else:
        runtime.run(opened.run)


@source_app.command("snapshot")
def source_snapshot(
    name: str,
    table: Annotated[str, typer.Option(help="Table to snapshot, 'table' or 'schema.table'.")],
    with_deletes: Annotated[
        bool,
        typer.Option(
            "--with-deletes",
            help="Also publish a delete for every row the golden records link but the table no longer has "
            "(needs the processor section in the same file).",
        ),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Ask the running postgres_cdc source NAME for an incremental snapshot of one table."""
    from producers.postgres_cdc.reconcile import SourceReconciliation
    from producers.postgres_cdc.source import request_snapshot
    from seamline.connectors.source import SourceSetupError

    loaded = load(config)
    source = loaded.sources.get(name)
    if not isinstance(source, PostgresCdcSource):
        console.print(f"[red]{name!r} is not a postgres_cdc source in {config}[/red]: only those snapshot on demand")
        raise typer.Exit(2)
    if with_deletes and loaded.processor is None:
        console.print(
            f"[red]--with-deletes compares with the golden records' links[/red]: add the processor "
            f"section mapping {name}'s tables to {config}"
        )
        raise typer.Exit(2)
    try:
        signal = request_snapshot(source, table)
    except SourceSetupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"incremental snapshot of {table} requested (signal {signal}); the running source picks it up")
    if with_deletes:
        assert loaded.processor is not None
        reconciliation = SourceReconciliation(name, loaded.kafka, source, loaded.processor, Metrics.create(), table)
        deletes = reconciliation.repair(reconciliation.check())
        console.print(f"published {deletes} delete(s) of rows {table} no longer has")


@source_app.command("reset")
def source_reset(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Forget the stored position of the stopped source NAME: its next start takes a new snapshot."""
    from producers.positions import PositionStore
    from seamline.publisher import Publisher
    from seamline.serde import AvroSerde
    from seamline.topics import ensure_topics, offsets_topic

    loaded = load(config)
    source_settings(loaded, name, config)
    ensure_topics(loaded.kafka, [offsets_topic(loaded.kafka)])
    publisher = Publisher(loaded.kafka)
    store = PositionStore(loaded.kafka, AvroSerde(loaded.kafka), publisher)
    if store.load(name) is None:
        console.print(f"source {name} has no stored position: it starts with a snapshot anyway")
        return
    store.forget(name)
    publisher.flush()
    console.print(f"source {name}: position forgotten; its next start takes a new snapshot")


@app.command()
def process(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the stream processor (cleanse, resolve, merge) until SIGTERM."""
    loaded = load(config)
    if loaded.processor is None:
        console.print(f"[red]{config} has no 'processor' section[/red]: add one to run the processor")
        raise typer.Exit(2)
    logs.configure()
    processor = loaded.processor
    runtime.run(lambda: _run_worker(loaded, processor))


def _run_worker(loaded: Config, processor: ProcessorConfig) -> None:
    from processors.app import build_app, run_worker
    from seamline.consumer_lag import LagExporter

    metrics = Metrics.create()
    serve_metrics(metrics, processor.metrics_port, "processor", processor.app_id)
    app = build_app(loaded, metrics)
    read = [*processor_input_topics(loaded.kafka, processor), identity_topic(loaded.kafka)]
    LagExporter(loaded.kafka, {processor.app_id: read}, metrics).start()
    run_worker(app)


@sink_app.command("run")
def sink_run(name: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Write canonical entities into sink NAME until SIGTERM."""
    loaded = load(config)
    sink_settings(loaded, name, config)
    logs.configure()
    runtime.run(sink_runner(loaded, name).run)


@app.command()
def notify(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Announce every failed record (dead letters, data-quality records) on its route's channels until SIGTERM."""
    from notify.runner import NotifyRunner, notify_group

    loaded = load(config)
    if loaded.notify is None:
        console.print(
            f"[red]{config} has no 'notify' section[/red]: add one with channels and routes (docs/operations.md)"
        )
        raise typer.Exit(2)
    logs.configure()
    metrics = Metrics.create()
    serve_metrics(metrics, loaded.notify.metrics_port, "notify", notify_group(loaded))
    runtime.run(NotifyRunner(loaded, metrics).run)


@app.command()
def demo() -> None:
    """Bring the stack up and run a live ERP → target sync on sample data; exit 0 only if source = target."""
    from seamline.operations.demo import run_demo

    raise typer.Exit(run_demo())
