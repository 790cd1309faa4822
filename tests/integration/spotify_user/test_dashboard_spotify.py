"""The dashboard's Spotify page and a chart's sync form, in process against the loopback Spotify: connect (admin),
see the account, mirror a chart (write), and the refusals in the API's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from app.db.api_keys import Scope
from tests.auth import ADMIN_KEY
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.integration.dashboard import BASE, SAME_SITE, csrf_of, sign_in, wait_for_success
from tests.integration.spotify_user.test_playlist_sync import CHART, seed_chart, uri
from tests.integration.test_dashboard import make_key

HTML = {"Accept": "text/html"}


@pytest.fixture
async def dashboard(embedded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the dashboard with the admin key (it keeps the session cookie)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded_app), base_url=BASE) as http:
        signed_in = await sign_in(http, ADMIN_KEY)
        assert signed_in.status_code == 303, signed_in.text
        yield http


async def post_form(http: httpx.AsyncClient, page: str, action: str, **fields: str) -> httpx.Response:
    form = await http.get(page)
    return await http.post(action, data={"csrf_token": csrf_of(form), **fields}, headers=SAME_SITE)


async def test_connect_then_mirror_a_chart_from_the_pages(
    embedded_app: FastAPI, dashboard: httpx.AsyncClient, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, [4, 9, 1], week=0, unmatched=[9])
    before = await dashboard.get("/ui/spotify")
    assert before.status_code == 200 and "No Spotify account is connected." in before.text

    refused = await post_form(dashboard, f"/ui/charts/{CHART}", f"/ui/charts/{CHART}/sync", name="Top")
    assert refused.status_code == 409 and "No Spotify account is connected" in refused.text
    assert 'id="sync-error"' in refused.text

    to_spotify = await post_form(dashboard, "/ui/spotify", "/ui/spotify/connect")
    assert to_spotify.status_code == 303 and to_spotify.headers["location"].startswith(
        f"{spotify.url}/authorize?"
    )
    async with httpx.AsyncClient(timeout=10) as web:  # the browser, on Spotify: the fake approves at once
        approved = await web.get(to_spotify.headers["location"])
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])  # Spotify sends the browser back
    connected = await dashboard.get(f"{back.path}?{back.query}", headers=HTML)
    assert connected.status_code == 200 and "Spotify connected" in connected.text
    after = await dashboard.get("/ui/spotify")
    assert "<b>Test DJ</b> (Spotify user testdj)" in after.text and "Forget the account" in after.text

    started = await post_form(
        dashboard, f"/ui/charts/{CHART}", f"/ui/charts/{CHART}/sync", name="Tech House", public="on"
    )
    assert started.status_code == 303 and started.headers["location"].startswith("/ui/tasks/")
    await wait_for_success(dashboard, started.headers["location"])
    (playlist,) = spotify.playlists.owned_by("testdj")
    assert playlist.name == "Tech House" and playlist.uris == [uri(4), uri(1)] and playlist.public

    forgotten = await post_form(dashboard, "/ui/spotify", "/ui/spotify/disconnect")
    assert forgotten.status_code == 303
    assert "No Spotify account is connected." in (await dashboard.get("/ui/spotify")).text


async def test_a_write_key_may_sync_but_not_connect(embedded_app: FastAPI) -> None:
    secret = await make_key(embedded_app, "dj", Scope.write)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded_app), base_url=BASE) as http:
        assert (await sign_in(http, secret)).status_code == 303
        shown = await http.get("/ui/spotify")
        assert "Connecting an account needs a key with the admin scope." in shown.text
        assert 'action="/ui/spotify/connect"' not in shown.text
        refused = await http.post(
            "/ui/spotify/connect", data={"csrf_token": csrf_of(shown)}, headers=SAME_SITE
        )
        assert refused.status_code == 403 and "admin scope" in refused.text
