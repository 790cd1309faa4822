"""A watchlist with a `sync` action mirrors itself into a playlist after each run that found new tracks (embedded
mode: no chains without Redis, so the sync follows the run alone, without the enrichment step)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.fixtures.beatport import GENRE_TOP100_PATH


async def finished(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await client.get(f"/tasks/status/{task_id}")).json()
        if status["state"] in ("success", "failure", "cancelled"):
            assert status["state"] == "success", status
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


async def test_a_run_with_new_tracks_mirrors_the_watchlist(
    client: httpx.AsyncClient, connected: str, spotify: FakeSpotifyAccount
) -> None:
    made = await client.post(
        "/watchlists",
        json={
            "name": "Tech house",
            "targets": [GENRE_TOP100_PATH],
            "cron": "0 7 * * *",
            "sync": {"name": "Tech house, new"},
        },
    )
    assert made.status_code == 201, made.text
    watchlist = made.json()
    assert watchlist["sync"] == {"playlist_id": None, "name": "Tech house, new", "public": False}
    bad = await client.post(
        "/watchlists",
        json={"name": "x", "targets": [GENRE_TOP100_PATH], "cron": "0 7 * * *", "sync": {"playlist_id": "x"}},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "sync", "playlist_id"]

    run = await client.post(f"/watchlists/{watchlist['id']}/run")
    first = (await finished(client, run.json()["task_id"]))["result"]
    assert first["new_tracks"] == 100 and first["sync_task_id"] is not None
    synced = (await finished(client, first["sync_task_id"]))["result"]
    assert synced["source_tracks"] == 100 and synced["unmatched"] == synced["not_yet_checked"] == 100
    (playlist,) = spotify.playlists.owned_by(connected)
    assert playlist.name == "Tech house, new" and synced["playlist_id"] == playlist.id

    again = await client.post(f"/watchlists/{watchlist['id']}/run")
    second = (await finished(client, again.json()["task_id"]))["result"]
    assert second["new_tracks"] == 0 and second["sync_task_id"] is None  # nothing new: no sync
