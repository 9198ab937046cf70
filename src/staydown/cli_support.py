"""What the `staydown` command's sub-commands share: the output consoles, the settings, the database,
the operator as an actor, and failing with a message."""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from staydown.actors import Actor, ActorKind
from staydown.errors import StaydownError
from staydown.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from staydown.db import Database

# Rich fits output to a terminal's width, and to 80 columns when there is none: piped into a file
# or another program a table would be cut, its cells wrapped or ellipsised. Without a terminal a
# table is as wide as its rows (up to PIPED_WIDTH, which no row reaches); a terminal keeps its own.
PIPED_WIDTH = 4096


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


out = console()
err = console(stderr=True)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        err.print(f"[red]configuration is not valid:[/red] {exc}")
        raise typer.Exit(2) from exc


def database(settings: Settings) -> Database:
    # The whole service's wiring: imported when a command needs the database, so that
    # `staydown --help` and the small commands start in a fraction of the time.
    from staydown.runtime import build_database  # noqa: PLC0415 - start-up time of the command line

    return build_database(settings)


def cli_actor() -> Actor:
    """The operator at a shell is named by their OS account: commands are audited, not anonymous."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return Actor(ActorKind.system, f"cli:{user}", f"command line ({user})")


def fail(exc: StaydownError) -> NoReturn:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(1)
