"""The user's Spotify side, in process: an embedded app (SQLite, in-process tasks) pointed at one loopback Spotify
(accounts service, playlist API and the enrichment's search) for the whole package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.spotify_connect import REDIRECT_URI, connect, spotify_settings


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSpotifyAccount]:
    with FakeSpotifyAccount(client_id="cid", redirect_uris={REDIRECT_URI}) as spotify:
        yield spotify


@pytest.fixture
def spotify(fake: FakeSpotifyAccount) -> Iterator[FakeSpotifyAccount]:
    yield fake
    fake.accounts.deny = False
    fake.accounts.rotate_refresh = False
    fake.playlists.reset()


@pytest.fixture
def embedded_settings(embedded_settings: Settings, spotify: FakeSpotifyAccount) -> Settings:
    """The package's apps (`embedded_app`, and `client` with the admin key) talk to the fake Spotify."""
    return spotify_settings(embedded_settings, spotify)


@pytest.fixture
async def connected(client: httpx.AsyncClient, browser: httpx.AsyncClient) -> str:
    """The fake's user connected; their Spotify id."""
    answer = await connect(client, browser)
    assert answer.status_code == 200, answer.text
    user_id: str = answer.json()["spotify_user_id"]
    return user_id


@pytest.fixture
async def browser(embedded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=embedded_app), base_url="http://127.0.0.1:8000"
    ) as http:
        yield http
