"""`seamline dlq`: list, show, replay and purge dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load, sink_settings
from seamline.metrics import Metrics

if TYPE_CHECKING:
    from seamline.dead_letters.letters import Filter, Letter

dlq_app = typer.Typer(help="Dead letters: list, show, replay once the cause is fixed, purge.", no_args_is_help=True)

StageOption = Annotated[
    str | None, typer.Option("--stage", help="Only this stage: source.<name>, cleanse, resolve, sink.<name>.")
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Only letters whose reason or error class has this text.")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only letters that failed at or after this ISO 8601 time.")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only letters that failed before this ISO 8601 time.")]


def _letter_filter(stage: str | None, reason: str | None, since: str | None, until: str | None) -> Filter:
    from seamline.dead_letters.letters import Filter
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

    from seamline.dead_letters.letters import DeadLetterError, letters

    loaded = load(config)
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

    from seamline.dead_letters.letters import DeadLetterError, find
    from seamline.serde import AvroSerde, SerdeError

    loaded = load(config)
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
    from seamline.connectors.registry import sink_kind
    from seamline.dead_letters.letters import SINK_STAGE, SOURCE_STAGE, DeadLetterError, letters, republish
    from seamline.dead_letters.write_back import write_back

    loaded = load(config)
    try:
        chosen = list(letters(loaded.kafka, _letter_filter(stage, reason, since, until)))
        by_stage: dict[str, list[Letter]] = {}
        for letter in chosen:
            by_stage.setdefault(letter.stage, []).append(letter)
        for name, batch in by_stage.items():
            if name.startswith(SOURCE_STAGE):
                console.print(
                    f"{name}: {len(batch)} letter(s) left alone: a source's letter holds a value its topic's type "
                    "cannot, so fix the value in the source (each reason says how) and its next change is published"
                )
                continue
            if not name.startswith(SINK_STAGE):
                console.print(f"{name}: {republish(loaded.kafka, batch)} letter(s) sent back to the stage's input")
                continue
            sink = name.removeprefix(SINK_STAGE)
            settings = sink_settings(loaded, sink, config)
            records, outcome = write_back(
                loaded.kafka, sink_kind(settings.kind).open(sink, settings, Metrics.create()), batch, loaded.cipher()
            )
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
    from seamline.dead_letters.letters import DeadLetterError, purge
    from seamline.times import parse_time

    loaded = load(config)
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
