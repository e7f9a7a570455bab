"""`seamline pii`: the key file of the personal fields' encryption."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from seamline.cli.support import console
from seamline.pii import KeyFileError, KeyRing

pii_app = typer.Typer(help="Field-level encryption of personal data: its key file.", no_args_is_help=True)


@pii_app.command("new-key")
def new_key(
    key_file: Annotated[Path, typer.Option("--key-file", help="The key file; made if it does not exist.")],
    key_id: Annotated[
        str | None, typer.Option("--id", help="Id of the new key (default: the current UTC time).")
    ] = None,
) -> None:
    """Add a new random AES-256 key and make it the current one; older keys stay to open what they sealed."""
    chosen = key_id or datetime.now(UTC).strftime("k%Y%m%dT%H%M%SZ")
    try:
        ring = KeyRing.load(key_file) if key_file.exists() else KeyRing("", {})
        ring = ring.with_new_key(chosen)
    except KeyFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    ring.save(key_file)
    console.print(
        f"{key_file}: key {chosen} is now current ({len(ring.keys)} key(s)); restart the processor to seal with it"
    )
