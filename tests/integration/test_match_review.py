"""Match review: `PUT`/`DELETE /tracks/{id}/spotify` through the in-process app, against the loopback fake
Spotify; a locked decision survives enrichment with `force` (no search is sent for it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.cli import migrate
from app.config import Settings
from app.db import api_keys
from app.db.api_keys import Scope
from app.main import create_app
from app.services.enrichment import EnrichmentService
from app.services.resources import Resources
from app.sources.spotify import SpotifyClient
from tests.auth import ADMIN_HEADERS, ADMIN_KEY
from tests.fakes.spotify import FakeSpotify, fake_id, quota_exceeded
from tests.fixtures.beatport import GENRE_TOP100_PATH


async def _wait_finished(http: httpx.AsyncClient, status_url: str) -> dict[str, Any]:
    for _ in range(600):  # the in-process task runs beside this loop
        status: dict[str, Any] = (await http.get(status_url)).json()
        if status["state"] in {"success", "failure", "cancelled"}:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"the collection did not finish: {status}")


@pytest.fixture(scope="module")
def spotify() -> Iterator[FakeSpotify]:
    with FakeSpotify(client_id="id", client_secret="secret") as server:
        yield server


@pytest.fixture
async def reviewed(
    tmp_path: Path, spotify: FakeSpotify, embedded_settings: Settings
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, list[dict[str, Any]]]]:
    """The app over a collected Top 100, Spotify configured to the fake; yields (app, client, tracks)."""
    spotify.reset()
    settings = Settings(
        _env_file=None,
        database_url=embedded_settings.database_url,
        beatport_base_url=embedded_settings.beatport_base_url,
        beatport_requests_per_second=100,
        api_admin_key=ADMIN_KEY,
        spotify_client_id="id",
        spotify_client_secret="secret",
        spotify_api_url=spotify.api_url,
        spotify_auth_url=spotify.auth_url,
        spotify_requests_per_second=100,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=ADMIN_HEADERS) as http:
            collected = await http.post("/collect/beatport/collect", json={"url": GENRE_TOP100_PATH})
            assert collected.status_code == 202, collected.text
            status = await _wait_finished(http, collected.json()["status_url"])
            assert status["state"] == "success", status
            tracks = (await http.get("/tracks", params={"page_size": 5, "sort": "id"})).json()["items"]
            yield app, http, tracks


async def test_a_manual_match_is_looked_up_stored_and_says_who_set_it(
    reviewed: tuple[FastAPI, httpx.AsyncClient, list[dict[str, Any]]], spotify: FakeSpotify
) -> None:
    app, http, tracks = reviewed
    async with app.state.resources.sessions() as session:
        _, secret = await api_keys.create_key(session, name="reviewer", scope=Scope.write)
    item = spotify.add_track(
        name="The Right Version - Extended Mix", artists=["Someone"], isrc="GBXYZ2600001"
    )
    track_id = tracks[0]["id"]
    response = await http.put(
        f"/tracks/{track_id}/spotify",
        json={"spotify_id": item["id"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.text
    match = response.json()["spotify"]
    assert match["id"] == item["id"] and match["match_method"] == "manual"
    assert match["album_name"] == item["album"]["name"] and match["match_score"] is None
    assert match["match_locked_by"] == "reviewer" and match["match_locked_at"] is not None
    assert spotify.counts["track"] == 1  # looked up once, through GET /v1/tracks/{id}

    listed = await http.get("/tracks", params={"enriched": "true"})
    assert [t["id"] for t in listed.json()["items"]] == [track_id]

    cleared = await http.delete(f"/tracks/{track_id}/spotify")
    assert cleared.status_code == 204
    after = (await http.get(f"/tracks/{track_id}")).json()["spotify"]
    assert after["id"] is None and after["match_method"] is None and after["match_locked_by"] is None


async def test_not_on_spotify_needs_no_lookup_and_unknown_ids_are_refused_with_spotifys_answer(
    reviewed: tuple[FastAPI, httpx.AsyncClient, list[dict[str, Any]]], spotify: FakeSpotify
) -> None:
    _, http, tracks = reviewed
    track_id = tracks[1]["id"]
    none = await http.put(f"/tracks/{track_id}/spotify", json={"spotify_id": None})
    assert none.status_code == 200, none.text
    assert none.json()["spotify"]["match_method"] == "manual" and none.json()["spotify"]["id"] is None
    assert none.json()["spotify"]["match_locked_by"] == "API_ADMIN_KEY"
    assert spotify.api_requests == 0

    unknown = await http.put(f"/tracks/{track_id}/spotify", json={"spotify_id": fake_id("nothing")})
    assert unknown.status_code == 422
    assert "Spotify has no track" in unknown.json()["detail"] and "404" in unknown.json()["detail"]
    for body in ({"spotify_id": "not-an-id"}, {}, {"spotify_id": 5}, {"spotify_id": None, "x": 1}):
        assert (await http.put(f"/tracks/{track_id}/spotify", json=body)).status_code == 422, body
    missing = await http.put("/tracks/999999999/spotify", json={"spotify_id": None})
    assert missing.status_code == 404 and "999999999" in missing.json()["detail"]
    assert (await http.delete("/tracks/999999999/spotify")).status_code == 404


async def test_a_quota_stop_answers_503_with_retry_after_and_stops_later_lookups(
    reviewed: tuple[FastAPI, httpx.AsyncClient, list[dict[str, Any]]], spotify: FakeSpotify
) -> None:
    _, http, tracks = reviewed
    item = spotify.add_track(name="Any", artists=["Someone"])
    spotify.fail_api(quota_exceeded(retry_after=3600))
    first = await http.put(f"/tracks/{tracks[2]['id']}/spotify", json={"spotify_id": item["id"]})
    assert first.status_code == 503 and 3500 < int(first.headers["Retry-After"]) <= 3600
    before = spotify.api_requests
    second = await http.put(f"/tracks/{tracks[2]['id']}/spotify", json={"spotify_id": item["id"]})
    assert second.status_code == 503 and "quota" in second.json()["detail"]
    assert spotify.api_requests == before  # the shared quota stop: nothing sent


async def test_locked_decisions_survive_forced_enrichment_and_are_never_searched(
    reviewed: tuple[FastAPI, httpx.AsyncClient, list[dict[str, Any]]], spotify: FakeSpotify
) -> None:
    app, http, tracks = reviewed
    manual = spotify.add_track(name="Chosen", artists=["Someone"], isrc="GBXYZ2600002")
    matched_id, missing_id = tracks[3]["id"], tracks[4]["id"]
    assert (
        await http.put(f"/tracks/{matched_id}/spotify", json={"spotify_id": manual["id"]})
    ).status_code == 200
    assert (await http.put(f"/tracks/{missing_id}/spotify", json={"spotify_id": None})).status_code == 200
    resources: Resources = app.state.resources
    spotify.server.clear()
    settings = resources.settings
    async with SpotifyClient.from_settings(settings, limiter=resources.spotify_limiter) as client:
        summary = await EnrichmentService(sessions=resources.sessions, client=client).enrich(
            track_ids=[matched_id, missing_id, tracks[0]["id"]], only_missing=False, force=True
        )
    assert summary.tracks_selected == 1 and summary.skipped_already_enriched == 2
    searched = " ".join(r.query.get("q", [""])[0] for r in spotify.server.requests_to("/v1/search"))
    for track in (tracks[3], tracks[4]):
        assert track["name"] not in searched
    after = {tid: (await http.get(f"/tracks/{tid}")).json()["spotify"] for tid in (matched_id, missing_id)}
    assert after[matched_id]["id"] == manual["id"] and after[matched_id]["match_method"] == "manual"
    assert after[missing_id]["id"] is None and after[missing_id]["match_method"] == "manual"


def test_the_migration_adds_manual_and_the_lock_and_takes_them_back(tmp_path: Path) -> None:
    """Upgrade, store a manual decision, downgrade: the decision becomes "never checked" (no CHECK violation)."""
    import sqlite3

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute(
            "INSERT INTO tracks (id, name, created_at, updated_at) VALUES (1, 'x', '2026-01-01', '2026-01-01')"
        )
        db.execute(
            "UPDATE tracks SET spotify_match_method = 'manual', spotify_match_locked_by = 'k', "
            "spotify_id = 'abc' WHERE id = 1"
        )
    from alembic.config import Config

    from alembic import command
    from app.cli import PROJECT_ROOT

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    command.downgrade(config, "5c0a9e3d7b21")
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT spotify_match_method, spotify_id FROM tracks").fetchall() == [(None, None)]
