"""Scratch PostgreSQL databases for tests and benchmarks: created, migrated, dropped."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:5432/test"


def admin(sql: str, *, admin_url: str = PG_ADMIN_URL) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def scratch_database(
    *, prefix: str = "cd_test", admin_url: str = PG_ADMIN_URL, migrated: bool = True
) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh (migrated) database on the admin URL's server; drop it afterwards."""
    from app.cli import migrate

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"', admin_url=admin_url)
    server = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql+asyncpg://{server}/{name}"
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url=admin_url)
