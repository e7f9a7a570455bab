"""`seamline suggestions`: merge suggestions for a data steward to list, show, accept or reject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load

if TYPE_CHECKING:
    from seamline.decisions import Kind

suggestions_app = typer.Typer(
    help="Merge suggestions: list the open ones, show one, accept (merge) or reject (never again).",
    no_args_is_help=True,
)
PairOption = Annotated[
    tuple[str, str] | None,
    typer.Option("--pair", help="Two golden ids to decide about, instead of a suggestion's id."),
]
SuggestionArgument = Annotated[str | None, typer.Argument(help="The suggestion's id (`seamline suggestions list`).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why, in your words (kept with the decision).")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: the user running the command).")]
EntityOption = Annotated[str, typer.Option("--entity", help="The entity of --pair.")]


@suggestions_app.command("list")
def suggestions_list(
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity, e.g. customer.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per suggestion instead of a table.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List the suggestions nobody decided yet whose two golden records both still live."""
    from seamline.stewardship import open_suggestions

    loaded = load(config)
    found = [
        (suggestion, records)
        for suggestion, records in open_suggestions(loaded.kafka, loaded.cipher())
        if entity is None or suggestion.entity == entity
    ]
    if as_json:
        for suggestion, records in found:
            names = [_label(records[gid]) for gid in suggestion.golden_ids]
            print(json.dumps({**_as_dict(suggestion), "names": names}, ensure_ascii=False))
        return
    table = Table("suggestion", "entity", "golden id", "name", "candidate id", "name", "score", "rule")
    for suggestion, records in found:
        one, other = suggestion.golden_ids
        table.add_row(
            suggestion.id,
            suggestion.entity,
            one,
            _label(records[one]),
            other,
            _label(records[other]),
            f"{suggestion.score:.1f}",
            suggestion.rule,
        )
    Console(width=200).print(table)
    if not found:
        console.print("no open suggestions")


@suggestions_app.command("show")
def suggestions_show(
    suggestion: Annotated[str, typer.Argument(help="The suggestion's id (`seamline suggestions list`).")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show a suggestion and the current version of both golden records, field by field."""
    from seamline.stewardship import StewardError, find_suggestion, golden_records

    loaded = load(config)
    try:
        found = find_suggestion(loaded.kafka, suggestion)
    except StewardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    records = golden_records(loaded.kafka, found.entity, loaded.cipher())
    one, other = (records.get(gid) for gid in found.golden_ids)
    print(f"suggestion {found.id}: {found.entity}, score {found.score:.1f} by {found.rule}")
    table = Table("field", *(f"{gid}{'' if gid in records else ' (gone)'}" for gid in found.golden_ids))
    names = sorted({*(one or {}), *(other or {})})
    for name in names:
        table.add_row(name, *(_text((record or {}).get(name)) for record in (one, other)))
    Console(width=200).print(table)


@suggestions_app.command("accept")
def suggestions_accept(
    suggestion: SuggestionArgument = None,
    pair: PairOption = None,
    entity: EntityOption = "customer",
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """The two golden records are one: the processor merges them (the earliest founder's id stays)."""
    _decide("accept", suggestion, pair, entity, note, by, config)


@suggestions_app.command("reject")
def suggestions_reject(
    suggestion: SuggestionArgument = None,
    pair: PairOption = None,
    entity: EntityOption = "customer",
    note: NoteOption = None,
    by: ByOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """The two golden records are not the same: never suggested nor merged automatically again."""
    _decide("reject", suggestion, pair, entity, note, by, config)


def _decide(
    kind: Kind,
    suggestion: str | None,
    pair: tuple[str, str] | None,
    entity: str,
    note: str | None,
    by: str | None,
    config: Path,
) -> None:
    from seamline.stewardship import StewardError, decide_pair, find_suggestion

    if (suggestion is None) == (pair is None):
        console.print("[red]name either a suggestion's id or --pair ID ID[/red] (`seamline suggestions list`)")
        raise typer.Exit(2)
    loaded = load(config)
    about = {"note": note, **({"decided_by": by} if by else {})}
    try:
        if suggestion is not None:
            found = find_suggestion(loaded.kafka, suggestion)
            entity, pair = found.entity, found.golden_ids
        assert pair is not None
        decision = decide_pair(loaded.kafka, loaded.cipher(), kind, entity, pair, suggestion, **about)
    except StewardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    effect = "merges them" if kind == "accept" else "never suggests nor merges them again"
    console.print(f"{kind}ed: {pair[0]} and {pair[1]} (decision {decision.key}); the processor {effect}")


def _as_dict(suggestion: Any) -> dict[str, Any]:
    return {
        "id": suggestion.id,
        "entity": suggestion.entity,
        "golden_ids": list(suggestion.golden_ids),
        "score": suggestion.score,
        "rule": suggestion.rule,
    }


def _label(record: dict[str, Any]) -> str:
    """What names a golden record for a person: its name, else its first cross-reference."""
    return str(record.get("name") or record.get("email") or next(iter(record["links"]), ""))


def _text(value: Any) -> str:
    return (
        "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    )
