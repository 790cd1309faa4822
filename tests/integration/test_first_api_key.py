"""`cratedigger serve`'s first start makes one admin key in `data/api-key` (0600), and only when there is none."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from pydantic import SecretStr

from app.cli import ensure_api_key, migrate
from app.config import Settings
from app.db import api_keys
from app.db.api_keys import Scope, hash_key
from app.db.session import create_engine, create_sessionmaker


def _settings(tmp_path: Path, **values: object) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    migrate(url)
    return Settings(_env_file=None, database_url=url, **values)  # type: ignore[arg-type]


def _stored(settings: Settings) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        engine = create_engine(settings.database_url)
        async with create_sessionmaker(engine)() as session:
            keys = [(k.name, k.scope, k.key_hash) for k in await api_keys.list_keys(session)]
        await engine.dispose()
        return keys

    return asyncio.run(read())


def test_the_first_start_makes_a_private_admin_key_file_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    made = ensure_api_key(tmp_path / "data", settings)
    assert made == tmp_path / "data" / "api-key"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    secret = made.read_text().strip()
    assert _stored(settings) == [("admin", "admin", hash_key(secret))]  # the hash, not the key
    assert ensure_api_key(tmp_path / "data", settings) is None and made.read_text().strip() == secret


def test_no_key_file_when_keys_exist_or_api_admin_key_is_set(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_admin_key=SecretStr("from-the-environment"))
    assert ensure_api_key(tmp_path / "a", settings) is None and not (tmp_path / "a").exists()
    plain = _settings(tmp_path)

    async def one_key() -> None:
        engine = create_engine(plain.database_url)
        async with create_sessionmaker(engine)() as session:
            await api_keys.create_key(session, name="ops", scope=Scope.read)
        await engine.dispose()

    asyncio.run(one_key())
    assert ensure_api_key(tmp_path / "b", plain) is None and not (tmp_path / "b").exists()
