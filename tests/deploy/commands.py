"""Checking that a container's arguments are a real seamline command naming a process of its configuration."""

from __future__ import annotations

import typer

from seamline.cli.main import app
from seamline.config import Config


def check_process_command(args: list[str], config: Config) -> None:
    """Parse `seamline ARGS` as the CLI does (unknown commands or options fail) and check the names it runs."""
    command = typer.main.get_command(app)
    context = command.make_context("seamline", list(args))
    rest = list(args)
    while hasattr(command, "get_command"):  # a group: descend into the named subcommand
        found = command.get_command(context, rest[0])
        assert found is not None, f"seamline has no command {rest[0]!r} (in {args})"
        command, rest = found, rest[1:]
        context = command.make_context(command.name, list(rest), parent=context)
    path = [part for part in args if not part.startswith("-")]
    if path[:2] == ["source", "run"]:
        assert path[2] in config.sources, f"{args}: no source {path[2]!r} in the configuration"
    elif path[:2] == ["sink", "run"]:
        assert path[2] in config.sinks, f"{args}: no sink {path[2]!r} in the configuration"
    elif path[:1] == ["notify"]:
        assert config.notify is not None, "`seamline notify` needs a notify section"
    else:
        assert path[:1] == ["process"], f"{args} is not one of source run, process, sink run, notify"
        assert config.processor is not None, "`seamline process` needs a processor section"
