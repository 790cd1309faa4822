"""Mirroring charts and track queries into the connected account's playlist, against the loopback playlist API:
source order, the fewest writes, nothing written for an unchanged source, limits, rate limits and quota stops."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.models import ChartEntry, ChartSnapshot, Track, Watchlist, WatchlistTrack
from app.errors import PermanentSourceError, TransientSourceError
from app.services.playlist_sync import PlaylistSyncService, SyncSummary
from app.services.resources import Resources
from app.sources.spotify.calls import CallPolicy
from tests.fakes.spotify import fake_id
from tests.fakes.spotify_playlist_items import FakePlaylist
from tests.fakes.spotify_user import FakeSpotifyAccount

CHART = "genre-top-100-11"
FAST = CallPolicy(backoff_base=0.01, backoff_max=0.05)


def spotify_id(track_id: int) -> str:
    return fake_id(f"track-{track_id}")


def uri(track_id: int) -> str:
    return f"spotify:track:{spotify_id(track_id)}"


async def seed_tracks(
    embedded_app: FastAPI, ids: Sequence[int], *, unmatched: Sequence[int] = (), unchecked: Sequence[int] = ()
) -> None:
    """Tracks `ids`, matched on Spotify except `unmatched` (searched, not found) and `unchecked` (never searched)."""
    resources: Resources = embedded_app.state.resources
    async with resources.sessions.begin() as session:
        for track_id in ids:
            if await session.get(Track, track_id) is not None:
                continue
            matched = track_id not in unmatched and track_id not in unchecked
            session.add(
                Track(
                    id=track_id,
                    name=f"Track {track_id}",
                    bpm=120 + track_id % 10,
                    publish_date=dt.date(2026, 1, 1) + dt.timedelta(days=track_id % 300),
                    spotify_id=spotify_id(track_id) if matched else None,
                    spotify_match_method=None if track_id in unchecked else ("isrc" if matched else "none"),
                )
            )


async def seed_chart(
    embedded_app: FastAPI, positions: Sequence[int], *, week: int, **kinds: Sequence[int]
) -> None:
    """A snapshot of CHART listing `positions` (track ids, position 1 first), collected `week` weeks in."""
    await seed_tracks(embedded_app, positions, **kinds)
    resources: Resources = embedded_app.state.resources
    async with resources.sessions.begin() as session:
        snapshot = ChartSnapshot(
            chart_key=CHART,
            title="Tech House Top 100",
            path="/genre/tech-house/11/top-100",
            task_id=f"week-{week}",
            collected_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC) + dt.timedelta(weeks=week),
        )
        session.add(snapshot)
        await session.flush()
        session.add_all(
            ChartEntry(snapshot_id=snapshot.id, position=i + 1, track_id=t) for i, t in enumerate(positions)
        )


class Syncs:
    def __init__(self, embedded_app: FastAPI, *, max_tracks: int = 1000) -> None:
        self.resources: Resources = embedded_app.state.resources
        self.max_tracks = max_tracks
        self.resumed: list[int] = []

    async def run(
        self, source: dict[str, Any], *, playlist_id: str | None = None, name: str | None = None
    ) -> SyncSummary:
        async def resume(*, delay_seconds: int) -> str:
            self.resumed.append(delay_seconds)
            return "follow-up"

        accounts = self.resources.spotify_accounts()
        client = accounts.user_client(FAST)
        try:
            service = PlaylistSyncService(
                sessions=self.resources.sessions,
                accounts=accounts,
                client=client,
                quota=self.resources.spotify_quota,
                resume=resume,
                max_tracks=self.max_tracks,
            )
            return await service.sync(source=source, playlist_id=playlist_id, name=name)
        finally:
            client.close()


async def mirrored(embedded_app: FastAPI, chart: Sequence[int]) -> tuple[Syncs, str]:
    """CHART collected once with `chart` and synced into a new playlist: the syncs and that playlist's id."""
    await seed_chart(embedded_app, chart, week=0)
    syncs = Syncs(embedded_app)
    first = await syncs.run({"chart_key": CHART})
    assert first.playlist_id is not None and first.playlist_created
    return syncs, first.playlist_id


def writes_since(fake: FakeSpotifyAccount, start: int) -> list[tuple[str, int]]:
    return [
        (call.method, len(call.uris))
        for call in fake.playlists.log[start:]
        if call.method in ("POST", "PUT", "DELETE")
    ]


async def test_a_chart_becomes_its_matched_tracks_in_chart_order_and_an_unchanged_one_writes_nothing(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    chart = [17, 3, 25, 8, 11, 40, 2, 33, 5, 21]
    await seed_chart(embedded_app, chart, week=0, unmatched=[25], unchecked=[40])
    syncs = Syncs(embedded_app)
    first = await syncs.run({"chart_key": CHART})
    expected = [uri(t) for t in chart if t not in (25, 40)]
    assert first.playlist_created and first.playlist_id is not None
    assert spotify.playlists.uris_of(first.playlist_id) == expected
    assert (first.added, first.removed, first.kept, first.unmatched, first.not_yet_checked) == (8, 0, 0, 2, 1)
    assert first.writes == 1  # one write of the 8 tracks (after creating the playlist)
    playlist = spotify.playlists.playlists[first.playlist_id]
    assert playlist.name == "Beatport · Tech House Top 100" and playlist.public is False
    assert first.snapshot_id == playlist.snapshot

    before = len(spotify.playlists.log)
    second = await syncs.run({"chart_key": CHART})
    assert second.playlist_id == first.playlist_id and not second.playlist_created
    assert (second.added, second.removed, second.kept, second.writes) == (0, 0, 8, 0)
    calls = spotify.playlists.log[before:]
    assert [(c.method, c.path) for c in calls] == [
        ("GET", f"/v1/playlists/{first.playlist_id}")
    ]  # no item reads


async def test_the_next_week_is_one_replace_and_every_path_is_a_2026_one(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, list(range(1, 81)), week=0)
    syncs = Syncs(embedded_app)
    first = await syncs.run({"chart_key": CHART}, name="My Tech House")
    assert (
        first.playlist_id is not None
        and spotify.playlists.playlists[first.playlist_id].name == "My Tech House"
    )
    week2 = [*range(60, 81), *range(100, 120), *range(21, 60)][::-1]
    await seed_chart(embedded_app, week2, week=1)
    before = len(spotify.playlists.log)
    second = await syncs.run({"chart_key": CHART})
    assert spotify.playlists.uris_of(first.playlist_id) == [uri(t) for t in week2]
    assert writes_since(spotify, before) == [("PUT", 80)]
    assert (second.added, second.removed, second.kept) == (20, 20, 60)
    paths = {call.path for call in spotify.playlists.log}
    assert not any("/users/" in path or path.endswith("/tracks") for path in paths)
    assert all(len(call.uris) <= 100 for call in spotify.playlists.writes())


async def test_a_large_source_is_written_100_at_a_time_after_a_replace_and_cut_at_the_limit(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_tracks(embedded_app, range(1000, 1260))
    syncs = Syncs(embedded_app, max_tracks=250)
    first = await syncs.run({"tracks": {"bpm_min": 120, "sort": "id", "order": "desc"}})
    assert first.playlist_id is not None and first.source_tracks == 250
    assert first.note is not None and "first 250" in first.note
    expected = [uri(t) for t in range(1259, 1009, -1)]
    assert spotify.playlists.uris_of(first.playlist_id) == expected
    reordered = await syncs.run({"tracks": {"bpm_min": 120, "sort": "id", "order": "asc"}})  # another source
    assert reordered.playlist_created and reordered.playlist_id != first.playlist_id
    before = len(spotify.playlists.log)
    await syncs.run({"tracks": {"bpm_min": 120, "sort": "id", "order": "asc"}}, playlist_id=first.playlist_id)
    assert writes_since(spotify, before) == [("PUT", 100), ("POST", 100), ("POST", 50)]
    assert spotify.playlists.uris_of(first.playlist_id) == [uri(t) for t in range(1000, 1250)]
    reads = [c for c in spotify.playlists.log[before:] if c.method == "GET" and c.path.endswith("/items")]
    assert len(reads) == 5 and all(c.query["limit"] == ["50"] for c in reads)  # 250 read 50 at a time


async def test_changes_made_on_spotify_are_undone_with_the_fewest_writes(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    syncs, playlist_id = await mirrored(embedded_app, range(1, 151))
    playlist = spotify.playlists.playlists[playlist_id]
    playlist.items.insert(10, (uri(999), "2026-12-01T00:00:00Z"))  # the user added a track in the app
    playlist.snapshot = "changed-by-someone"
    before = len(spotify.playlists.log)
    fixed = await syncs.run({"chart_key": CHART})
    assert writes_since(spotify, before) == [("DELETE", 1)]  # cheaper than a replace of 150 (2 calls)
    assert (fixed.added, fixed.removed, fixed.kept) == (0, 1, 150)
    assert spotify.playlists.uris_of(playlist_id) == [uri(t) for t in range(1, 151)]


async def test_a_short_rate_limit_is_waited_out_and_a_failed_write_is_not_repeated_blindly(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, list(range(1, 151)), week=0)
    syncs = Syncs(embedded_app)
    spotify.playlists.rate_limit(1, retry_after=1)  # the playlist's creation is refused once
    first = await syncs.run({"chart_key": CHART})
    assert first.playlist_id is not None
    assert spotify.playlists.uris_of(first.playlist_id) == [uri(t) for t in range(1, 151)]
    creations = [c for c in spotify.playlists.log if c.method == "POST" and c.path == "/v1/me/playlists"]
    assert len(creations) == 2  # a 429 was never applied: repeated after Retry-After

    await seed_chart(embedded_app, list(range(1, 152)), week=1)  # one more at the end: one POST
    spotify.playlists.fail_5xx(1, on="write")
    before = len(spotify.playlists.log)
    with pytest.raises(TransientSourceError, match="not repeated"):
        await syncs.run({"chart_key": CHART})
    assert writes_since(spotify, before) == [("POST", 1)]  # a 503 on an add may have been applied
    retried = await syncs.run({"chart_key": CHART})  # the task's retry reads the playlist again
    assert spotify.playlists.uris_of(first.playlist_id) == [uri(t) for t in range(1, 152)]
    assert retried.writes == 1

    await seed_chart(
        embedded_app, list(range(151, 0, -1)), week=2
    )  # reversed: a replace, which may be repeated
    spotify.playlists.fail_5xx(1, on="write")
    before = len(spotify.playlists.log)
    await syncs.run({"chart_key": CHART})
    assert writes_since(spotify, before) == [("PUT", 100), ("PUT", 100), ("POST", 51)]
    assert spotify.playlists.uris_of(first.playlist_id) == [uri(t) for t in range(151, 0, -1)]


async def test_a_quota_stop_pauses_every_spotify_task_and_hands_the_sync_over(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, list(range(1, 11)), week=0)
    syncs = Syncs(embedded_app)
    spotify.playlists.quota_exceeded(retry_after=86207)
    paused = await syncs.run({"chart_key": CHART})
    assert paused.paused_until is not None and paused.resumed_by_task_id == "follow-up"
    until = dt.datetime.fromisoformat(paused.paused_until)
    assert dt.timedelta(seconds=86200) < until - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=86220)
    assert 86200 < syncs.resumed[0] < 86220
    stop = await syncs.resources.spotify_quota.active()  # type: ignore[union-attr]
    assert stop is not None and stop.until >= until - dt.timedelta(seconds=1)
    before = len(spotify.playlists.log)
    again = await syncs.run({"chart_key": CHART})  # another task meanwhile: no request at all
    assert again.paused_until is not None and "not sent" in (again.paused_reason or "")
    assert len(spotify.playlists.log) == before


async def test_the_remembered_playlist_is_remade_when_deleted_and_foreign_playlists_are_refused(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    syncs, playlist_id = await mirrored(embedded_app, range(1, 6))
    spotify.playlists.delete_playlist(playlist_id)
    remade = await syncs.run({"chart_key": CHART})
    assert remade.playlist_created and remade.playlist_id != playlist_id
    foreign = FakePlaylist(
        id="5Xsomeoneelses000000001",
        owner="other",
        name="x",
        public=True,
        collaborative=False,
        description="",
    )
    spotify.playlists.playlists[foreign.id] = foreign
    with pytest.raises(PermanentSourceError, match="belongs to 'other'"):
        await syncs.run({"chart_key": CHART}, playlist_id=foreign.id)
    with pytest.raises(PermanentSourceError, match="does not exist"):
        await syncs.run({"chart_key": CHART}, playlist_id="5Xnosuchplaylist0000001")
    spotify.playlists.not_allowlisted = True  # Development Mode: the user is not on the app's list
    with pytest.raises(PermanentSourceError, match="User not registered in the Developer Dashboard"):
        await syncs.run({"chart_key": CHART})
    spotify.playlists.not_allowlisted = False
    spotify.playlists.drop_item_field = True  # an older Client ID: entries carry `track`, not `item`
    spotify.playlists.playlists[remade.playlist_id or ""].snapshot = "edited"
    assert (await syncs.run({"chart_key": CHART})).kept == 5


async def wait_finished(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await http.get(f"/tasks/status/{task_id}")).json()
        if status["state"] in ("success", "failure", "cancelled"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


async def test_post_playlists_sync_is_a_task_with_counts_and_refuses_what_it_cannot_mirror(
    embedded_app: FastAPI, client: httpx.AsyncClient, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, [4, 9, 1], week=0, unmatched=[9])
    accepted = await client.post("/playlists/sync", json={"source": {"chart_key": CHART}})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["location"] == f"/tasks/status/{accepted.json()['task_id']}"
    done = await wait_finished(client, accepted.json()["task_id"])
    assert done["state"] == "success", done
    result = done["result"]
    assert {k: result[k] for k in ("added", "removed", "kept", "unmatched")} == {
        "added": 2,
        "removed": 0,
        "kept": 0,
        "unmatched": 1,
    }
    assert spotify.playlists.uris_of(result["playlist_id"]) == [uri(4), uri(1)]
    refusals = [
        ({"source": {"watchlist_id": 3}}, "No watchlist with id 3"),
        ({"source": {"chart_key": "chart-424242"}}, "No chart with key"),
        ({"source": {"tracks": {"bpm_min": 130, "bpm_max": 120}}}, "bpm_min"),
        ({"source": {"tracks": {"bpm_min": "130"}}}, "integer"),
        ({"source": {"tracks": {"published_to": "0000-00-00"}}}, "date"),
        ({"source": {"tracks": {"genre": 1, "published_from": "2026-02-30"}}}, "date"),
        ({"source": {"chart_key": CHART, "tracks": {}}}, "exactly one of"),
        ({"source": {"chart_key": CHART}, "playlist_id": "not-an-id"}, "pattern"),
        ({"source": {}}, "exactly one of"),
    ]
    for body, needle in refusals:
        refused = await client.post("/playlists/sync", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert needle in refused.text, (body, refused.text)


async def test_a_new_playlist_is_private_unless_asked_public(
    embedded_app: FastAPI, client: httpx.AsyncClient, connected: str, spotify: FakeSpotifyAccount
) -> None:
    await seed_chart(embedded_app, [4, 1], week=0)
    made = {}
    for body in (
        {"source": {"chart_key": CHART}, "name": "Private"},
        {"source": {"tracks": {"genre": "tech-house"}}, "name": "Shared", "public": True},
    ):
        accepted = await client.post("/playlists/sync", json=body)
        assert accepted.status_code == 202, accepted.text
        done = await wait_finished(client, accepted.json()["task_id"])
        assert done["state"] == "success", done
        made[body["name"]] = done["result"]["playlist_id"]
    public_of = {p.id: p.public for p in spotify.playlists.owned_by(connected)}
    assert (public_of[made["Private"]], public_of[made["Shared"]]) == (False, True)
    refused = await client.post("/playlists/sync", json={"source": {"chart_key": CHART}, "public": "yes"})
    assert refused.status_code == 422 and "public" in refused.text


async def test_a_watchlist_is_mirrored_newest_first(
    embedded_app: FastAPI, connected: str, spotify: FakeSpotifyAccount
) -> None:
    """What a watchlist's runs found new, newest first (GET /watchlists/{id}/tracks' order); unmatched counted."""
    await seed_tracks(embedded_app, [11, 12, 13, 14], unmatched=[13])
    resources: Resources = embedded_app.state.resources
    async with resources.sessions.begin() as session:
        watchlist = Watchlist(
            name="Label watch", targets=["/label/x/1/tracks"], cron="0 7 * * *", timezone="UTC",
            feed_token_hash="0" * 64,
        )  # fmt: skip
        session.add(watchlist)
        await session.flush()
        first_run, second_run = (
            dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        )
        session.add_all(
            WatchlistTrack(watchlist_id=watchlist.id, track_id=track_id, first_seen_at=seen, run_id=run)
            for track_id, seen, run in (
                (11, first_run, "run-1"), (12, first_run, "run-1"), (13, second_run, "run-2"), (14, second_run, "run-2"),
            )
        )  # fmt: skip
        watchlist_id = watchlist.id
    synced = await Syncs(embedded_app).run({"watchlist_id": watchlist_id})
    assert synced.playlist_id is not None and (synced.added, synced.unmatched) == (3, 1)
    assert spotify.playlists.uris_of(synced.playlist_id) == [uri(14), uri(12), uri(11)]
