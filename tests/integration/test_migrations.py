"""The Alembic history upgrades, downgrades and re-upgrades cleanly on SQLite and PostgreSQL, and matches the models."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
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
    "watchlists",
    "watchlist_tracks",
    "spotify_accounts",
    "spotify_authorizations",
    "playlist_syncs",
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


def _run(url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    """Each statement in one transaction; the rows of those that return any."""

    async def run() -> list[list[tuple[object, ...]]]:
        engine = create_engine(url)
        results = []
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement))
                results.append([tuple(row) for row in result] if result.returns_rows else [])
        await engine.dispose()
        return results

    return asyncio.run(run())


OLD_KEYS = ["genre-top100:11", "top100", "chart:900123", "genre-top100:6"]
NEW_KEYS = ["genre-top-100-11", "top-100", "chart-900123", "genre-top-100-6"]
KEYS_AND_ENTRIES = (
    "SELECT s.chart_key, count(e.position) FROM chart_snapshots s "
    "LEFT JOIN chart_entries e ON e.snapshot_id = s.id GROUP BY s.id, s.chart_key ORDER BY s.id"
)


def test_chart_keys_are_rewritten_url_safe_and_back(empty_database: str) -> None:
    """Snapshots stored with the old keys get the URL-safe ones (entries kept), and the old ones again on the
    way down; SQLite's column drop must not copy the table (its foreign keys would cascade to the entries)."""
    config = _config(empty_database)
    script = ScriptDirectory.from_config(config)
    (rewrite,) = [r for r in script.walk_revisions() if (r.doc or "").startswith("url-safe chart keys")]
    assert isinstance(rewrite.down_revision, str)
    command.upgrade(config, rewrite.down_revision)
    at = "'2026-11-30 06:00:00+00:00'"
    _run(
        empty_database,
        f"INSERT INTO tracks (id, name, created_at, updated_at) VALUES (1, 'One', {at}, {at})",
        *(
            f"INSERT INTO chart_snapshots (id, chart_key, title, task_id, collected_at) "
            f"VALUES ({i}, '{key}', 'T', 'task', {at})"
            for i, key in enumerate(OLD_KEYS, start=1)
        ),
        *(
            f"INSERT INTO chart_entries (snapshot_id, position, track_id) VALUES ({i}, 1, 1)"
            for i in (1, 2, 3)
        ),
    )
    command.upgrade(config, rewrite.revision)
    (rows,) = _run(empty_database, KEYS_AND_ENTRIES)
    assert rows == [(key, 1 if i < 3 else 0) for i, key in enumerate(NEW_KEYS)]
    (paths,) = _run(empty_database, "SELECT path FROM chart_snapshots")
    assert paths == [(None,)] * 4
    command.downgrade(config, rewrite.down_revision)
    (rows,) = _run(empty_database, KEYS_AND_ENTRIES)
    assert rows == [(key, 1 if i < 3 else 0) for i, key in enumerate(OLD_KEYS)]
    assert "path" not in _columns(empty_database, "chart_snapshots")
    command.upgrade(config, "head")
    assert _drift(empty_database) == []


def _columns(url: str, table: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})
        await engine.dispose()
        return names

    return asyncio.run(read())


LINKED_ROWS = (
    "SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM track_artists), "
    "(SELECT count(*) FROM chart_entries), (SELECT count(*) FROM collection_pages)"
)


def test_every_migration_after_the_first_data_keeps_every_row(empty_database: str) -> None:
    """A catalogue stored before the later migrations survives them all, on both databases: SQLite's batch mode
    rebuilds `tracks`, and with foreign keys on that drop would cascade to credits and chart entries."""
    config = _config(empty_database)
    command.upgrade(config, "1e4f7b26a22c")  # the schema the first deployments hold
    at = "'2026-11-30 06:00:00+00:00'"
    _run(
        empty_database,
        f"INSERT INTO tracks (id, name, created_at, updated_at) VALUES (1, 'One', {at}, {at})",
        "INSERT INTO artists (id, name) VALUES (7, 'Ada')",
        "INSERT INTO track_artists (track_id, role, position, artist_id) VALUES (1, 'artist', 0, 7)",
        f"INSERT INTO chart_snapshots (id, chart_key, title, task_id, collected_at) VALUES (1, 'top100', 'T', 't', {at})",
        "INSERT INTO chart_entries (snapshot_id, position, track_id) VALUES (1, 1, 1)",
        "INSERT INTO collection_pages (run_id, target, page, served_by, tracks_seen, tracks_created, "
        "tracks_updated, tracks_unchanged, chart_snapshot_id, stored_at) "
        f"VALUES ('t', '/top-100', 1, 'pages', 1, 1, 0, 0, 1, {at})",
    )
    command.upgrade(config, "head")
    assert _run(empty_database, LINKED_ROWS) == [[(1, 1, 1, 1)]]
    command.downgrade(config, "1e4f7b26a22c")
    assert _run(empty_database, LINKED_ROWS) == [[(1, 1, 1, 1)]]
