"""`seamline dq`: the data-quality records of the fields records went on without, or with as written."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load

dq_app = typer.Typer(help="Data quality: fields records went on without, or with as written.", no_args_is_help=True)


@dq_app.command("list")
def dq_list(
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity, e.g. customer.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show the newest N records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List data-quality records, newest last: which field of which source record, why, and what was done."""
    import json

    from seamline.data_quality import DataQualityError, issues

    loaded = load(config)
    try:
        found = sorted(issues(loaded.kafka, entity), key=lambda issue: issue["time"])[-limit:]
    except DataQualityError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        for issue in found:
            print(json.dumps({**issue, "time": issue["time"].isoformat()}, ensure_ascii=False))
        return
    table = Table("time", "record", "field", "reason", "action", "message", "event")
    for issue in found:
        record = f"{issue['entity']} {issue['system']}.{issue['object']}:{issue['source_key']}"
        what = (issue["field"], issue["reason"], issue["action"], issue["message"])
        table.add_row(issue["time"].isoformat(timespec="seconds"), record, *what, issue["event_id"])
    Console(width=200).print(table)
    if not found:
        console.print("no data-quality records")
