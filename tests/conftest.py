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
# Database indexes reserved for tests, one per concurrent test run on this machine (Redis has 16 by default).
REDIS_TEST_DBS = range(15, 7, -1)


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


_redis_test_db: int | None = None


def _redis_lock_path(db: int) -> Path:
    name = "cratedigger-tests-redis.lock" if db == 15 else f"cratedigger-tests-redis-{db}.lock"
    return Path(tempfile.gettempdir()) / name


def _claim_redis_test_db() -> int:
    """This run's own test Redis database, held (by a file lock) until the process exits: concurrent runs on the
    same machine (worktrees, CI beside a developer) each take a free index instead of emptying one another's; when
    every index is taken, wait for the first."""
    global _redis_test_db
    if _redis_test_db is None:
        for db in REDIS_TEST_DBS:
            handle = open(_redis_lock_path(db), "wb")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            break
        else:
            db = REDIS_TEST_DBS[0]
            handle = open(_redis_lock_path(db), "wb")  # noqa: SIM115
            fcntl.flock(handle, fcntl.LOCK_EX)
        atexit.register(handle.close)
        _redis_test_db = db
    return _redis_test_db


def fresh_redis_url() -> str:
    """The real Redis, on a database index reserved for this test run, emptied first."""
    import redis

    url = f"{REDIS_URL_BASE}/{_claim_redis_test_db()}"
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
