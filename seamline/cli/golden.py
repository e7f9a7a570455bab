"""`seamline golden`: a data steward's changes to golden records (split)."""

from __future__ import annotations

from typing import Annotated

import typer

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load

golden_app = typer.Typer(help="Golden records: undo a wrong merge.", no_args_is_help=True)


@golden_app.command("split")
def golden_split(
    golden_id: Annotated[str, typer.Argument(metavar="ID", help="The golden id of the wrongly merged record.")],
    keep: Annotated[
        list[str],
        typer.Option("--keep", help="A record that stays, '<system>.<object>:<key>' as in the record's links; repeat."),
    ],
    note: Annotated[str | None, typer.Option("--note", help="Why, in your words (kept with the decision).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who decides (default: the user running the command).")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Split golden record ID: the --keep records stay, the others leave and get golden records of their own (or
    join the records they match), never to be merged with the kept ones again. The side holding the record ID was
    born from keeps ID."""
    from seamline.stewardship import StewardError, decide_split

    loaded = load(config)
    if loaded.processor is None:
        console.print(f"[red]{config} has no 'processor' section[/red]: splits are about the processor's records")
        raise typer.Exit(2)
    entities = sorted({mapping.entity for mapping in loaded.processor.mappings if mapping.line_of is None})
    about = {"note": note, **({"decided_by": by} if by else {})}
    try:
        decision = decide_split(loaded.kafka, loaded.cipher(), entities, golden_id, keep, **about)
    except StewardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(
        f"split {golden_id}: {len(decision.records)} record(s) stay, {len(decision.others)} leave "
        f"(decision {decision.key}); the processor splits it within seconds"
    )
