"""`spotify connect|status|disconnect` and `playlists sync` with typer's runner against a loopback fake of the API."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli.commands import app
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.unit.test_cli import TASK, run, status

AUTHORIZE = "https://accounts.spotify.example/authorize?client_id=cid&state=s1"
ACCOUNT = {
    "spotify_user_id": "testdj", "display_name": "Test DJ", "scope": "playlist-modify-private",
    "connected_by": "admin", "connected_at": "2026-12-01T10:00:00Z", "consent_expires_at": "2027-06-01T10:00:00Z",
    "last_refreshed_at": None, "needs_reconsent": False, "needs_reconsent_since": None, "note": None,
}  # fmt: skip


def test_connect_prints_spotifys_page_without_following_it(fake_api: FakeHTTPServer) -> None:
    fake_api.add("GET", "/auth/spotify/login", FakeResponse(status=302, headers={"Location": AUTHORIZE}))
    result = run("spotify", "connect", "--no-open")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == AUTHORIZE
    (sent,) = fake_api.requests_to("/auth/spotify/login", "GET")
    assert sent.headers["authorization"] == "Bearer cd_test"


def test_connect_says_what_the_api_refused(fake_api: FakeHTTPServer) -> None:
    fake_api.add("GET", "/auth/spotify/login", FakeResponse.json({"detail": "Needs the admin scope."}, 403))
    result = run("spotify", "connect", "--no-open")
    assert result.exit_code == 1 and "Needs the admin scope." in result.stderr


def test_status_shows_the_account_and_exits_1_when_spotify_wants_consent_again(
    fake_api: FakeHTTPServer,
) -> None:
    fake_api.add("GET", "/auth/spotify", FakeResponse.json(ACCOUNT))
    shown = run("spotify", "status")
    assert shown.exit_code == 0 and "Test DJ (Spotify user testdj)" in shown.stdout

    stale = {**ACCOUNT, "needs_reconsent": True, "note": "consent expired: reconnect Spotify"}
    fake_api.add("GET", "/auth/spotify", FakeResponse.json(stale))
    refused = run("spotify", "status")
    assert refused.exit_code == 1 and "reconnect Spotify" in refused.stderr


def test_disconnect_asks_first(fake_api: FakeHTTPServer) -> None:
    fake_api.add("DELETE", "/auth/spotify", FakeResponse(status=204))
    declined = CliRunner().invoke(app, ["spotify", "disconnect"], input="n\n")
    assert declined.exit_code == 1 and fake_api.requests_to("/auth/spotify", "DELETE") == []
    assert run("spotify", "disconnect", "--yes").exit_code == 0
    assert len(fake_api.requests_to("/auth/spotify", "DELETE")) == 1


def test_sync_of_a_chart_waits_and_summarizes(fake_api: FakeHTTPServer) -> None:
    fake_api.add("POST", "/playlists/sync", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202))
    done = status(
        "success",
        task_name="sync_spotify_playlist",
        result={"playlist_id": "pl1", "added": 18, "removed": 36, "kept": 36, "unmatched": 6},
    )
    fake_api.add(
        "GET", f"/tasks/{TASK}/events",
        FakeResponse(body=f"event: status\ndata: {json.dumps(done)}\n\n".encode(),
                     headers={"Content-Type": "text/event-stream"}),
    )  # fmt: skip
    result = run(
        "playlists", "sync", "--chart", "genre-top-100-11", "--name", "Tech House", "--public", "--wait"
    )
    assert result.exit_code == 0, result.output
    (sent,) = fake_api.requests_to("/playlists/sync", "POST")
    assert sent.json() == {
        "source": {"chart_key": "genre-top-100-11"},
        "playlist_id": None,
        "name": "Tech House",
        "public": True,
    }
    assert "playlist pl1: 18 added, 36 removed, 36 kept; 6 track(s) without a Spotify match" in result.stdout


def test_sync_of_a_query_sends_typed_filters(fake_api: FakeHTTPServer) -> None:
    fake_api.add("POST", "/playlists/sync", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202))
    query = "label=drumcode&bpm_min=120&match_score_lt=0.9&enriched=true&sort=publish_date&order=desc"
    result = run("playlists", "sync", "--query", query, "--playlist-id", "37i9dQZF1DX")
    assert result.exit_code == 0, result.output
    (sent,) = fake_api.requests_to("/playlists/sync", "POST")
    assert sent.json()["source"] == {
        "tracks": {
            "label": "drumcode", "bpm_min": 120, "match_score_lt": 0.9, "enriched": True,
            "sort": "publish_date", "order": "desc",
        }
    }  # fmt: skip
    assert sent.json()["playlist_id"] == "37i9dQZF1DX" and result.stdout.strip().endswith(TASK)


def test_sync_refuses_what_cannot_be_a_source_before_asking_the_api(fake_api: FakeHTTPServer) -> None:
    for args in (
        [],  # no source
        ["--chart", "top-100", "--watchlist", "3"],  # two
        ["--query", "colour=red"],  # not a filter
        ["--query", "bpm_min=fast"],  # not a number
        ["--query", "enriched=maybe"],
    ):
        result = run("playlists", "sync", *args)
        assert result.exit_code == 2, (args, result.output)
    assert fake_api.requests_to("/playlists/sync", "POST") == []
