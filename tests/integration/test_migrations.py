"""The Alembic history upgrades, downgrades and re-upgrades cleanly on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from alembic import command
from app.cli import PROJECT_ROOT
from app.db.base import Base
from app.db.session import create_engine
from tests.pg import scratch_database

EXPECTED_TABLES = {
    "genres",
    "sub_genres",
    "labels",
    "releases",
    "artists",
    "tracks",
    "track_artists",
    "chart_snapshots",
    "chart_entries",
    "dead_letters",
    "collection_pages",
    "api_keys",
}


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names - {"alembic_version"}

    return asyncio.run(read())


def _drift(url: str) -> list[object]:
    from alembic.autogenerate import compare_metadata

    def compare(sync: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(sync), Base.metadata))

    async def read() -> list[object]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(compare)
        await engine.dispose()
        return diff

    with warnings.catch_warnings():
        if url.startswith("sqlite"):
            # SQLite's expression indexes (the sort keys) cannot be reflected: SQLAlchemy and alembic say so
            # and leave them out of the comparison. PostgreSQL reflects and compares them.
            warnings.filterwarnings("ignore", message=r".*expression-based index")
        return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    with scratch_database(prefix="cd_mig", migrated=False) as url:
        yield url


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    config = _config(empty_database)
    command.upgrade(config, "head")
    assert _tables(empty_database) == EXPECTED_TABLES
    assert _drift(empty_database) == []
    command.downgrade(config, "base")
    assert _tables(empty_database) == set()
    command.upgrade(config, "head")
    assert _tables(empty_database) == EXPECTED_TABLES
