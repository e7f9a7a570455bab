"""What the command line's modules share: the console, the --config option, loading it, sinks' runners."""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from seamline import runtime
from seamline.config import Config, ConfigError, load_config
from seamline.connectors.sections import SinkSection as Sink
from seamline.connectors.sections import SourceSection as Source
from seamline.metrics import Metrics
from seamline.pii import KeyFileError

if TYPE_CHECKING:
    from sinks.runner import SinkRunner

console = Console(stderr=True, soft_wrap=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The seamline YAML file.", envvar="SEAMLINE_CONFIG")]
DEFAULT_CONFIG = Path("seamline.yaml")


def serve_metrics(metrics: Metrics, port: int, kind: str, name: str) -> None:
    """Serve /metrics on SEAMLINE_METRICS_HOST (127.0.0.1 unless set; 0.0.0.0 in containers, for Prometheus); on
    a machine with the local stack, have its Prometheus scrape it (job seamline-<kind>) until the process exits."""
    from seamline.stack.scrape_targets import register, unregister

    host = os.environ.get("SEAMLINE_METRICS_HOST", "127.0.0.1")
    metrics.serve(port, host)
    registered = register(kind, name, port, "127.0.0.1" if host in ("0.0.0.0", "::", "") else host)
    if registered is not None:
        # Runs on every exit but os._exit (a crash of the processor's agents) and SIGKILL, whose files are stale
        atexit.register(unregister, registered)
        runtime.exit_on_sigterm()


def load(path: Path) -> Config:
    """The configuration file, its PII key file checked; a clear message and exit 2 if either is unusable."""
    try:
        loaded = load_config(path)
        loaded.cipher()
        return loaded
    except (ConfigError, KeyFileError) as exc:
        console.print(f"[red]invalid configuration[/red]\n{exc}", highlight=False)
        raise typer.Exit(2) from exc


def source_settings(loaded: Config, name: str, config: Path) -> Source:
    """Source NAME of the configuration; exit 2 naming the sources there are when it has none of that name."""
    if name not in loaded.sources:
        console.print(f"[red]no source {name!r} in {config}[/red]; sources: {', '.join(loaded.sources) or 'none'}")
        raise typer.Exit(2)
    return loaded.sources[name]


def sink_settings(loaded: Config, name: str, config: Path) -> Sink:
    if name not in loaded.sinks:
        console.print(f"[red]no sink {name!r} in {config}[/red]; sinks: {', '.join(loaded.sinks) or 'none'}")
        raise typer.Exit(2)
    return loaded.sinks[name]


def sink_runner(loaded: Config, name: str, group_id: str | None = None, serve: bool = True) -> SinkRunner:
    """The runner of sink NAME, its metrics served on the sink's metrics port unless `serve` is False (a replay
    beside the running sink: the port is the sink's)."""
    from seamline.connectors.registry import sink_kind
    from sinks.runner import SinkRunner

    settings = loaded.sinks[name]
    metrics = Metrics.create()
    if serve:
        serve_metrics(metrics, settings.metrics_port, "sink", name)
    return SinkRunner(
        name,
        loaded.kafka,
        sink_kind(settings.kind).open(name, settings, metrics),
        settings.entities_written,
        metrics,
        group_id=group_id or settings.group_id,
        batch_size=settings.batch_size,
        cipher=loaded.cipher(),
    )
