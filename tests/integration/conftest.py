from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.cli import migrate
from app.config import Settings
from app.main import create_app
from tests.auth import ADMIN_KEY, admin_client
from tests.conftest import migrated_database
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_HTML, GENRE_TOP100_PATH, load_text
from tests.integration.dashboard import BASE


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh migrated database of each backend, shared by the module's tests (tests that must give the same
    answers on SQLite and PostgreSQL)."""
    with migrated_database(request.param, tmp_path_factory.mktemp("catalogue")) as url:
        yield url


@pytest.fixture
def fake_site() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as server:
        server.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML)))
        yield server


@pytest.fixture
def embedded_settings(tmp_path: Path, fake_site: FakeHTTPServer) -> Settings:
    """Embedded mode as `cratedigger serve` runs it: a fresh migrated SQLite file, no REDIS_URL."""
    assert "REDIS_URL" not in os.environ
    url = f"sqlite+aiosqlite:///{tmp_path / 'cratedigger.db'}"
    migrate(url)
    return Settings(
        _env_file=None,
        database_url=url,
        beatport_base_url=fake_site.url,
        beatport_requests_per_second=100,
        api_admin_key=ADMIN_KEY,
    )


@pytest.fixture
async def embedded_app(embedded_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(embedded_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(embedded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(embedded_app) as http:
        yield http


@pytest.fixture
async def browser(embedded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, like a browser, and sends no Authorization header."""
    transport = httpx.ASGITransport(app=embedded_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http
