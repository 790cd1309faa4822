"""`cratedigger` commands. `serve` and `migrate` run here; `keys` talks to the database directly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from app.cli import (
    catalogue_commands,
    health_commands,
    keys_commands,
    spotify_commands,
    task_commands,
    watchlist_commands,
)
from app.cli.setup_steps import ensure_api_key, ensure_secret_key, migrate

DATA_DIR = Path("data")

app = typer.Typer(
    name="cratedigger",
    help="Collect Beatport tracks, enrich them with Spotify data, and query them.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
task_commands.register(app)
catalogue_commands.register(app)
watchlist_commands.register(app)
spotify_commands.register(app)
app.add_typer(keys_commands.app, name="keys")
app.command(
    epilog="Examples: `cratedigger health worker` (compose's worker healthcheck); `cratedigger health api`"
)(health_commands.health)
logger = logging.getLogger("app")


@app.command(epilog="Examples: `cratedigger serve`; `cratedigger serve --host 0.0.0.0 --port 8080`")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Apply migrations, then run the API (and in-process tasks when REDIS_URL is unset).

    On the first start it makes `data/secret-key` (embedded mode) and an admin API key in `data/api-key`."""
    import uvicorn

    from app.config import get_settings

    made = ensure_secret_key(DATA_DIR)
    if made is not None:
        logger.info("SECRET_KEY unset: using the key in %s", made)
    settings = get_settings()
    migrate(settings.database_url)
    key_file = ensure_api_key(DATA_DIR, settings)
    if key_file is not None:
        logger.info("made an admin API key and wrote it to %s (send it as `Authorization: Bearer`)", key_file)
    uvicorn.run("app.main:app", host=host, port=port, log_level="info")


@app.command("migrate", epilog="Example: `DATABASE_URL=postgresql+asyncpg://… cratedigger migrate`")
def migrate_command() -> None:
    """Apply database migrations (alembic upgrade head) to DATABASE_URL."""
    migrate()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
