"""Shared fixtures. Real services only: PostgreSQL and Redis on 127.0.0.1, fakes of external sites on loopback.

The pytest process itself imports the app in embedded mode (no REDIS_URL, a temporary SQLite file); tests
that need the Redis broker run the real api and worker as subprocesses (tests/e2e).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

import pytest

from tests.pg import scratch_database

_EMBEDDED_DIR = Path(tempfile.mkdtemp(prefix="cratedigger-tests-"))
# Set before any `app` import: the broker and settings are built from the environment at import time.
os.environ.pop("REDIS_URL", None)
os.environ["DATABASE_URL"] = f"sqlite+aiosqlite:///{_EMBEDDED_DIR / 'embedded.db'}"
for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
    os.environ.pop(name, None)
os.environ["BEATPORT_BASE_URL"] = "http://127.0.0.1:9"  # never the real site; tests point it at a fake

REDIS_URL_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_TEST_DB = 15


def fresh_pg_database() -> AbstractContextManager[str]:
    """A fresh, migrated PostgreSQL database; dropped afterwards."""
    return scratch_database()


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, migrated database of `backend`: "sqlite" (a file in `directory`) or "postgresql" (dropped
    afterwards)."""
    if backend == "sqlite":
        from app.cli import migrate

        url = f"sqlite+aiosqlite:///{directory / 'catalog.db'}"
        migrate(url)
        yield url
    else:
        with fresh_pg_database() as url:
            yield url


_shared_redis_lock: IO[bytes] | None = None


def _hold_shared_redis_lock() -> None:
    """One test run at a time owns the shared test Redis database: a second run on the same machine waits here
    (until the first ends) instead of emptying it under the first run's workers."""
    global _shared_redis_lock
    if _shared_redis_lock is None:
        handle = open(Path(tempfile.gettempdir()) / "cratedigger-tests-redis.lock", "wb")  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX)
        _shared_redis_lock = handle  # held until this process exits
        atexit.register(handle.close)


def fresh_redis_url() -> str:
    """The real Redis, on a database index reserved for tests, emptied first."""
    import redis

    _hold_shared_redis_lock()
    url = f"{REDIS_URL_BASE}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


@pytest.fixture
async def pg_sessions(pg_database_url: str) -> AsyncIterator[object]:
    from app.db.session import create_engine, create_sessionmaker

    engine = create_engine(pg_database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def webhook_receiver() -> Iterator[object]:
    """A loopback webhook endpoint: `POST /hook` answers 200; `requests_to("/hook", "POST")` has what came."""
    from tests.fakes.server import FakeHTTPServer, FakeResponse

    with FakeHTTPServer() as server:
        server.add("POST", "/hook", FakeResponse.json({"received": True}))
        yield server
