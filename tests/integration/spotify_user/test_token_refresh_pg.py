"""Two workers (two processes' resources: their own engines and locks) refreshing the user's token at once on
PostgreSQL: the row lock makes them take turns, so a rotated refresh token is spent once and nobody is told to
reconnect."""

from __future__ import annotations

import asyncio

import httpx

from app.config import Settings
from app.main import create_app
from app.services.resources import Resources
from tests.auth import ADMIN_KEY, admin_client
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.spotify_connect import connect, spotify_settings


async def test_concurrent_refreshes_with_rotation_spend_each_refresh_token_once(
    pg_database_url: str, spotify: FakeSpotifyAccount
) -> None:
    base = Settings(_env_file=None, database_url=pg_database_url, api_admin_key=ADMIN_KEY)
    settings = spotify_settings(base, spotify)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        admin_client(app) as keyed,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as browser,
    ):
        assert (await connect(keyed, browser)).status_code == 200
        spotify.accounts.rotate_refresh = True
        workers = [Resources.open(settings, redis=None) for _ in range(3)]
        try:
            for _ in range(3):
                tokens = await asyncio.gather(
                    *(worker.spotify_accounts().access_token(renew=True) for worker in workers)
                )
                assert len(set(tokens)) == len(workers)
        finally:
            for worker in workers:
                await worker.close()
        account = (await keyed.get("/auth/spotify")).json()
        assert account["needs_reconsent"] is False
        assert spotify.accounts.counts["token_refresh_token"] == 9
