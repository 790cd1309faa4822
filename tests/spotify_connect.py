"""Connecting a Spotify account the way a person does it, with the test playing the browser: the admin key asks
`/auth/spotify/login` for Spotify's authorize URL, the "browser" opens it (the fake approves at once) and follows
the redirect back to the callback, without any API key."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from app.config import Settings

REDIRECT_URI = "http://127.0.0.1:8000/auth/spotify/callback"
SECRET = "integration-secret-key-0123456789"


class SpotifyBases(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def api_url(self) -> str: ...


def spotify_settings(base: Settings, fake: SpotifyBases, **more: object) -> Settings:
    """`base` pointed at the fake Spotify (validated, as the environment would be)."""
    values: dict[str, Any] = {
        **base.model_dump(),
        "spotify_client_id": "cid",
        "secret_key": SECRET,
        "spotify_accounts_url": fake.url,
        "spotify_api_url": fake.api_url,
        "spotify_redirect_uri": REDIRECT_URI,
        "spotify_requests_per_second": 200,
        **more,
    }
    return Settings(_env_file=None, **values)


def authorize_in_browser(login: httpx.Response) -> str:
    """Open the authorize URL `login` redirects to; the path and query Spotify sends the browser back to."""
    assert login.status_code == 302, login.text
    approved = httpx.get(login.headers["location"], follow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    return f"{back.path}?{back.query}"


async def connect(keyed: httpx.AsyncClient, browser: httpx.AsyncClient) -> httpx.Response:
    """The whole dance against an in-process app (`keyed` sends an admin key, `browser` none); the callback's
    answer."""
    login = await keyed.get("/auth/spotify/login", follow_redirects=False)
    return await browser.get(authorize_in_browser(login))


def connect_deployed(base: str, admin_headers: dict[str, str]) -> httpx.Response:
    """The same against a running API (e2e)."""
    login = httpx.get(f"{base}/auth/spotify/login", headers=admin_headers, follow_redirects=False, timeout=10)
    return httpx.get(f"{base}{authorize_in_browser(login)}", timeout=30)
