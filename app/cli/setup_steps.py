"""What `cratedigger serve` does before the API starts: migrations, and in embedded mode the secret key and a
first admin API key kept in `data/` (mode 0600)."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from app.config import Settings
from app.db import api_keys
from app.db.api_keys import Scope
from app.db.session import create_engine, create_sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIRST_KEY_NAME = "admin"


def migrate(database_url: str | None = None) -> None:
    from alembic.config import Config

    from alembic import command

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["configure_logger"] = False  # keep the command's logging (alembic.ini's would mute it)
    if database_url:
        config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def _write_private(path: Path, text: str) -> None:
    """Create `path` readable by its owner only; fails if it exists (two starts at once make one file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


def ensure_secret_key(data_dir: Path) -> Path | None:
    """Embedded mode without SECRET_KEY: use `data/secret-key`, made (mode 0600) on first start. Returns its path
    when it was used; with REDIS_URL the key must come from the environment (the processes refuse to start)."""
    if os.environ.get("SECRET_KEY") or os.environ.get("REDIS_URL"):
        return None
    path = data_dir / "secret-key"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
    os.environ["SECRET_KEY"] = path.read_text().strip()
    return path


def ensure_api_key(data_dir: Path, settings: Settings) -> Path | None:
    """With no key yet (none stored, no API_ADMIN_KEY, no `data/api-key`), make an admin key and write it to
    `data/api-key` (mode 0600) for the CLI and the person running the service. Returns the path if it made one."""
    path = data_dir / "api-key"
    if settings.api_admin_key is not None or path.exists():
        return None

    async def create() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                if await api_keys.count_keys(session):
                    return None
                _, secret = await api_keys.create_key(session, name=FIRST_KEY_NAME, scope=Scope.admin)
                return secret
        finally:
            await engine.dispose()

    secret = asyncio.run(create())
    if secret is None:
        return None
    _write_private(path, secret)
    return path
