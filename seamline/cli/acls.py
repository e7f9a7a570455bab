"""`seamline acls`: the Kafka ACLs of each component's principal, printed or created."""

from __future__ import annotations

from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from seamline.cli.support import DEFAULT_CONFIG, ConfigOption, console, load


def acls(
    config: ConfigOption = DEFAULT_CONFIG,
    source: Annotated[str, typer.Option(help="Principal (SASL user) of the sources.")] = "source",
    processor: Annotated[str, typer.Option(help="Principal of the processor.")] = "processor",
    sink: Annotated[
        str, typer.Option(help="Principal of the sinks (one for all; run it per sink to differ).")
    ] = "sink",
    create: Annotated[
        bool, typer.Option("--create", help="Create them, connecting with the file's Kafka settings (an admin).")
    ] = False,
) -> None:
    """The least-privilege ACLs each component needs under its own principal (seamline/acls.py)."""
    from seamline.acls import apply, bindings, processor_grants, sink_grants, source_grants

    loaded = load(config)
    wanted = bindings(source, source_grants(loaded)) + bindings(processor, processor_grants(loaded))
    for name in loaded.sinks:
        wanted += bindings(sink, sink_grants(loaded, name))
    table = Table("principal", "resource", "pattern", "name", "operation")
    for acl in wanted:
        # confluent-kafka's AclBinding turns these into enums in __init__, but its hints keep the str | int it takes
        table.add_row(acl.principal, acl.restype.name, acl.resource_pattern_type.name, acl.name, acl.operation.name)  # type: ignore[union-attr]
    Console(stderr=True, width=160).print(table)
    if create:
        try:
            apply(loaded.kafka, wanted)
        except KafkaException as exc:
            console.print(f"[red]creating the ACLs failed: {exc.args[0].str()}[/red]: connect as a super user")
            raise typer.Exit(2) from exc
        console.print(f"{len(wanted)} ACLs created")
