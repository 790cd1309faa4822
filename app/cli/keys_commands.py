"""`cratedigger keys create|list|revoke`: API keys, straight in the database at DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import api_keys
from app.db.api_keys import KeyNameTakenError, Scope
from app.db.session import create_engine, create_sessionmaker

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class ScopeName(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.config import get_settings

    async def run() -> T:
        engine = create_engine(get_settings().database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DBAPIError as error:
        err.print(
            f"[red]Database error:[/red] {error.orig}. Is DATABASE_URL right, and migrated (`cratedigger migrate`)?"
        )
        raise typer.Exit(1) from error


@app.command(epilog="Example: `cratedigger keys create --name grafana --scope read`")
def create(
    name: Annotated[str, typer.Option(help="a name to tell the key by (unique)")],
    scope: Annotated[
        ScopeName,
        typer.Option(
            help="read: every GET; write: + collect, enrich, cancel; admin: + schedules, dead letters"
        ),
    ] = ScopeName.read,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    try:
        key, secret = _with_session(lambda s: api_keys.create_key(s, name=name, scope=Scope[scope.value]))
    except KeyNameTakenError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    err.print(f"Created the {key.scope} key {key.name!r}. It is shown only now:")
    print(secret)


@app.command("list", epilog="Example: `cratedigger keys list`")
def list_command() -> None:
    """Every key: name, scope, the key's first characters, when it was made and last used."""
    keys = _with_session(api_keys.list_keys)
    table = Table("name", "scope", "starts with", "created", "last used")
    for key in keys:
        last_used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
        table.add_row(
            key.name, key.scope, key.key_prefix + "…", key.created_at.isoformat(timespec="seconds"), last_used
        )
    out.print(table if keys else "No keys yet: `cratedigger keys create --name NAME --scope admin`.")


@app.command(epilog="Example: `cratedigger keys revoke grafana`")
def revoke(name: Annotated[str, typer.Argument(help="the key's name, as `keys list` shows it")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    if not _with_session(lambda s: api_keys.revoke_key(s, name=name)):
        err.print(f"[red]No key named {name!r}[/red] (`cratedigger keys list` shows them).")
        raise typer.Exit(1)
    err.print(f"Revoked {name!r}.")
