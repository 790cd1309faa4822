"""The loopback Spotify refuses what the real one refuses (tests/fixtures/spotify/playlists.md), so a client that
passes against it does not pass by accident: PKCE checks, removed paths, page and write limits, the DELETE key."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.fakes.spotify_accounts import s256
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.spotify_connect import REDIRECT_URI

VERIFIER = "v" * 64


def authorize(fake: FakeSpotifyAccount, **overrides: str) -> httpx.Response:
    query = {
        "client_id": "cid",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "code_challenge_method": "S256",
        "code_challenge": s256(VERIFIER),
        "scope": "playlist-modify-private playlist-modify-public playlist-read-private",
        "state": "s1",
        **overrides,
    }
    return httpx.get(f"{fake.url}/authorize?{urlencode(query)}")


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def exchange(fake: FakeSpotifyAccount, code: str, verifier: str = VERIFIER) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": "cid",
        "code_verifier": verifier,
    }
    return httpx.post(f"{fake.url}/api/token", data=form)


def bearer(fake: FakeSpotifyAccount) -> dict[str, str]:
    token = exchange(fake, code_of(authorize(fake))).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_accounts_service_checks_pkce_like_spotify(spotify: FakeSpotifyAccount) -> None:
    assert authorize(spotify, redirect_uri="http://localhost:8000/auth/spotify/callback").status_code == 400
    assert authorize(spotify, code_challenge_method="plain").status_code == 400
    approved = authorize(spotify)
    assert parse_qs(urlsplit(approved.headers["location"]).query)["state"] == ["s1"]
    wrong = exchange(spotify, code_of(approved), verifier="w" * 64)
    assert wrong.json() == {"error": "invalid_grant", "error_description": "code_verifier was incorrect"}
    assert exchange(spotify, code_of(approved)).json()["error"] == "invalid_grant"  # a code serves once
    granted = exchange(spotify, code_of(authorize(spotify))).json()
    assert granted["refresh_token"] and granted["scope"]
    refreshed = httpx.post(
        f"{spotify.url}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": granted["refresh_token"], "client_id": "cid"},
    ).json()
    assert "refresh_token" not in refreshed and refreshed["access_token"]  # 2026: no rotation by default


def test_the_playlist_api_keeps_the_2026_paths_and_limits(spotify: FakeSpotifyAccount) -> None:
    headers = bearer(spotify)
    api = f"{spotify.url}/v1"
    assert httpx.get(f"{api}/me/", headers=headers).json()["id"] == "testdj"  # spotipy's trailing slash
    assert httpx.post(f"{api}/users/testdj/playlists", headers=headers, json={"name": "x"}).status_code == 403
    created = httpx.post(f"{api}/me/playlists", headers=headers, json={"name": "x", "public": False})
    assert created.status_code == 201
    items = f"{api}/playlists/{created.json()['id']}/items"
    assert httpx.get(f"{api}/playlists/{created.json()['id']}/tracks", headers=headers).status_code == 403
    uris: list[Any] = [f"spotify:track:{n:022d}" for n in range(101)]
    assert httpx.post(items, headers=headers, json={"uris": uris}).status_code == 400  # 101 URIs
    assert httpx.post(items, headers=headers, json={"uris": ["spotify:track:bad"]}).status_code == 400
    added = httpx.post(items, headers=headers, json={"uris": uris[:100]})
    assert added.status_code == 201 and added.json()["snapshot_id"] != created.json()["snapshot_id"]
    assert httpx.get(items, headers=headers, params={"limit": 51}).status_code == 400
    page = httpx.get(items, headers=headers, params={"limit": 50}).json()
    assert len(page["items"]) == 50 and page["next"].startswith(spotify.url) and page["total"] == 100
    legacy = httpx.request("DELETE", items, headers=headers, json={"tracks": [{"uri": uris[0]}]})
    assert legacy.status_code == 400
    removed = httpx.request("DELETE", items, headers=headers, json={"items": [{"uri": uris[0]}]})
    assert removed.status_code == 200
    assert httpx.get(f"{api}/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    spotify.playlists.rate_limit(1, retry_after=7, on="any")
    limited = httpx.get(items, headers=headers, params={"limit": 50})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
