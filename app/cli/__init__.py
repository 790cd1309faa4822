"""The `cratedigger` command (typer): `serve`, `migrate` and `keys`; see `cratedigger --help`."""

from app.cli.commands import main
from app.cli.setup_steps import PROJECT_ROOT, ensure_api_key, ensure_secret_key, migrate

__all__ = ["PROJECT_ROOT", "ensure_api_key", "ensure_secret_key", "main", "migrate"]
