"""`seamline stack up | status | down`: the local real stack from the command line."""

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from seamline.stack.errors import StackError
from seamline.stack.lifecycle import down as stack_down
from seamline.stack.lifecycle import status as stack_status
from seamline.stack.lifecycle import up as stack_up
from seamline.stack.service import ServiceStatus

stack_app = typer.Typer(help="The local real stack: Kafka, Apicurio Registry, PostgreSQL, MariaDB (no Docker).")
console = Console()

P = ParamSpec("P")
R = TypeVar("R")


def _friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Show a StackError as one red line and exit 1, without a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except StackError as error:
            console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return run


def _table(rows: list[ServiceStatus]) -> Table:
    table = Table("service", "address", "pid", "healthy")
    for row in rows:
        healthy = "[green]yes[/green]" if row.healthy else "[red]no[/red]"
        table.add_row(row.name, row.address, str(row.pid or "-"), healthy)
    return table


@stack_app.command()
@_friendly
def up() -> None:
    """Install what is missing, start what is not running, wait until healthy."""
    with console.status("bringing the stack up…"):
        info = stack_up()
    console.print(_table(stack_status()))
    console.print(f"bootstrap servers  {info.bootstrap_servers}")
    console.print(f"schema registry    {info.registry_url}")
    console.print(f"postgres           {info.postgres_dsn}")
    console.print(f"mariadb            {info.mariadb_url}")
    console.print(f"prometheus         {info.prometheus_url}")
    console.print(f"state dir          {info.state_dir}")


@stack_app.command()
@_friendly
def status() -> None:
    """Show what runs where; exit 1 if any service is unhealthy."""
    rows = stack_status()
    console.print(_table(rows))
    if not all(row.healthy for row in rows):
        raise typer.Exit(1)


@stack_app.command()
@_friendly
def down(purge: bool = typer.Option(False, "--purge", help="Also delete data and logs (installs are kept).")) -> None:
    """Stop the services `stack up` started."""
    stopped = stack_down(purge=purge)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}" + (" (data purged)" if purge else ""))
