"""Connecting the user's Spotify account (PKCE) through the API, against the loopback accounts service: one-time
states bound to the calling key, tokens sealed at rest, refresh with and without rotation, and invalid_grant
turned into "reconnect Spotify" without a second try."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db import api_keys
from app.db.api_keys import Scope
from app.main import create_app
from app.services.resources import Resources
from app.services.spotify_account import ReconnectSpotify
from tests.auth import admin_client
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.spotify_connect import authorize_in_browser, connect, spotify_settings


def database_bytes(settings: Settings) -> bytes:
    path = Path(settings.database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_connecting_stores_the_account_with_its_tokens_sealed(
    embedded_app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, spotify: FakeSpotifyAccount
) -> None:
    login = await client.get("/auth/spotify/login", follow_redirects=False)
    assert login.status_code == 302 and login.headers["location"].startswith(f"{spotify.url}/authorize?")
    connected = await browser.get(authorize_in_browser(login))
    assert connected.status_code == 200, connected.text
    account = (await client.get("/auth/spotify")).json()
    assert account["spotify_user_id"] == "testdj" and account["display_name"] == "Test DJ"
    assert account["connected_by"] == "API_ADMIN_KEY" and account["needs_reconsent"] is False
    consent_ends = dt.datetime.fromisoformat(account["consent_expires_at"])
    assert dt.timedelta(days=180) < consent_ends - dt.datetime.now(dt.UTC) < dt.timedelta(days=185)
    assert set(account["scope"].split()) == {
        "playlist-modify-private",
        "playlist-modify-public",
        "playlist-read-private",
    }
    stored = database_bytes(embedded_app.state.settings)
    secrets = spotify.accounts.issued_secrets()
    assert len(secrets) >= 2 and not any(secret.encode() in stored for secret in secrets)


async def test_a_state_serves_once_and_unknown_ones_change_nothing(
    client: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    login = await client.get("/auth/spotify/login", follow_redirects=False)
    callback = authorize_in_browser(login)
    assert (await browser.get(callback)).status_code == 200
    replayed = await browser.get(callback)
    assert replayed.status_code == 422 and "already used" in replayed.json()["detail"]
    forged = await browser.get("/auth/spotify/callback?state=made-up&code=whatever")
    assert forged.status_code == 422
    missing = await browser.get("/auth/spotify/callback")
    assert missing.status_code == 422


BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_a_browser_is_told_the_outcome_in_a_page(
    client: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    login = await client.get("/auth/spotify/login", follow_redirects=False)
    callback = authorize_in_browser(login)
    page = await browser.get(callback, headers=BROWSER_ACCEPT)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
    assert "Spotify connected" in page.text and "<strong>Test DJ</strong>" in page.text
    assert (await client.get("/auth/spotify")).json()["display_name"] == "Test DJ"  # connected, as for JSON

    replayed = await browser.get(callback, headers=BROWSER_ACCEPT)
    assert replayed.status_code == 422 and replayed.headers["content-type"].startswith("text/html")
    assert "Spotify was not connected" in replayed.text and "already used" in replayed.text
    assert "cratedigger spotify connect" in replayed.text


async def test_the_state_is_bound_to_the_key_that_asked_for_it(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    resources: Resources = embedded_app.state.resources
    async with resources.sessions() as session:
        _, secret = await api_keys.create_key(session, name="ops", scope=Scope.admin)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=embedded_app), base_url="http://t", headers=headers
    ) as ops:
        login = await ops.get("/auth/spotify/login", follow_redirects=False)
    async with resources.sessions() as session:
        await api_keys.revoke_key(session, name="ops")
    refused = await browser.get(authorize_in_browser(login))
    assert refused.status_code == 422 and "ops" in refused.json()["detail"]
    async with admin_client(embedded_app) as admin:
        assert (await admin.get("/auth/spotify")).status_code == 404


async def test_a_refused_authorization_connects_nothing(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, spotify: FakeSpotifyAccount
) -> None:
    spotify.accounts.deny = True
    refused = await connect(client, browser)
    assert refused.status_code == 422 and "access_denied" in refused.json()["detail"]
    assert (await client.get("/auth/spotify")).status_code == 404


async def test_refresh_keeps_the_old_token_or_the_rotated_one(
    embedded_app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, spotify: FakeSpotifyAccount
) -> None:
    assert (await connect(client, browser)).status_code == 200
    accounts = embedded_app.state.resources.spotify_accounts()
    first = set(spotify.accounts.live_refresh_tokens())  # the fake serves the whole module: earlier ones too
    await accounts.access_token(renew=True)  # no rotation (Spotify's 2026 default): the old token stays
    assert set(spotify.accounts.live_refresh_tokens()) == first
    spotify.accounts.rotate_refresh = True
    await accounts.access_token(renew=True)  # rotated: the old one is revoked, the new one kept
    rotated = set(spotify.accounts.live_refresh_tokens())
    assert len(first - rotated) == 1 and len(rotated - first) == 1
    await accounts.access_token(renew=True)  # works only if the rotated token was stored
    assert spotify.accounts.counts["token_refresh_token"] >= 3
    assert (await client.get("/auth/spotify")).json()["needs_reconsent"] is False
    cached = await accounts.access_token()  # fresh enough: no refresh
    refreshes = spotify.accounts.counts["token_refresh_token"]
    assert (
        await accounts.access_token() == cached
        and spotify.accounts.counts["token_refresh_token"] == refreshes
    )


async def test_invalid_grant_asks_for_reconsent_and_is_never_retried(
    embedded_app: FastAPI, client: httpx.AsyncClient, browser: httpx.AsyncClient, spotify: FakeSpotifyAccount
) -> None:
    assert (await connect(client, browser)).status_code == 200
    accounts = embedded_app.state.resources.spotify_accounts()
    spotify.accounts.age_consents(200 * 24 * 3600)  # past six months: the refresh token has expired
    before = spotify.accounts.counts["token_refresh_token"]
    with pytest.raises(ReconnectSpotify, match="reconnect Spotify"):
        await accounts.access_token(renew=True)
    with pytest.raises(ReconnectSpotify, match="reconnect Spotify"):
        await accounts.access_token(renew=True)
    assert spotify.accounts.counts["token_refresh_token"] == before + 1
    shown = (await client.get("/auth/spotify")).json()
    assert shown["needs_reconsent"] is True and "reconnect Spotify" in shown["note"]
    health = (await client.get("/health")).json()
    assert health["checks"]["spotify_account"]["needs_reconsent"] is True
    assert "reconnect Spotify" in health["checks"]["spotify_account"]["note"]
    sync = await client.post("/playlists/sync", json={"source": {"tracks": {}}})
    assert sync.status_code == 409 and "reconnect Spotify" in sync.json()["detail"]
    assert (await connect(client, browser)).status_code == 200  # connecting again clears it
    assert (await client.get("/auth/spotify")).json()["needs_reconsent"] is False


async def test_forgetting_the_account(client: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
    assert (await connect(client, browser)).status_code == 200
    assert (await client.delete("/auth/spotify")).status_code == 204
    assert (await client.get("/auth/spotify")).status_code == 404
    assert (await client.delete("/auth/spotify")).status_code == 404
    refused = await client.post("/playlists/sync", json={"source": {"tracks": {}}})
    assert refused.status_code == 409 and "GET /auth/spotify/login" in refused.json()["detail"]


async def test_without_a_client_id_or_secret_key_connecting_is_refused_by_name(
    embedded_settings: Settings, spotify: FakeSpotifyAccount
) -> None:
    settings = spotify_settings(embedded_settings, spotify, spotify_client_id=None, secret_key=None)
    application = create_app(settings)
    async with application.router.lifespan_context(application), admin_client(application) as http:
        refused = await http.get("/auth/spotify/login", follow_redirects=False)
    assert refused.status_code == 503
    assert "SPOTIFY_CLIENT_ID" in refused.json()["detail"] and "SECRET_KEY" in refused.json()["detail"]
