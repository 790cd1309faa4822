"""Collect → enrich as deployed: api under uvicorn, worker under `taskiq worker`, real Redis and PostgreSQL, a
fake Beatport serving the recorded Top 100 and a FakeSpotify on loopback that the worker reaches through the
SPOTIFY_* settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from app.sources.beatport.entities import BeatportTrack
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import parse_target
from tests.conftest import fresh_redis_url
from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import wait_for_state, wait_until
from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse
from tests.fakes.spotify import FakeSpotify, quota_exceeded
from tests.fixtures.beatport import GENRE_TOP100_PATH, genre_top100_html

pytestmark = pytest.mark.e2e


def top100() -> list[BeatportTrack]:
    page = parse_html(
        genre_top100_html(),
        kind=parse_target(GENRE_TOP100_PATH).kind,
        url=f"https://www.beatport.com{GENRE_TOP100_PATH}",
    )
    return list(page.tracks)


def spotify_name(name: str) -> str:
    return name.split(" (")[0] if name.endswith(")") else name  # "Chico Rose (NL)" on Beatport


def kind_of(index: int) -> str:
    """Which way the page's track at `index` is on Spotify: 7 in 10 by ISRC, 2 only by name, 1 not at all."""
    return {7: "search", 8: "search", 9: "absent"}.get(index % 10, "isrc")


def add_top100(fake: FakeSpotify) -> dict[int, str]:
    """Put the recorded Top 100 on the fake Spotify as `kind_of` says; the URI of each by page index."""
    uris = {}
    for index, track in enumerate(top100()):
        if kind_of(index) == "absent":
            continue
        item = fake.add_track(
            name=f"{track.name} - {track.mix_name}",
            artists=[spotify_name(a.name) for a in track.artists],
            isrc=track.isrc if kind_of(index) == "isrc" else None,
            duration_ms=track.length_ms or 300_000,
        )
        uris[index] = str(item["uri"])
    return uris


def spotify_settings(fake: FakeSpotify) -> dict[str, str]:
    """A deployment's settings for the fake Spotify (the credentials `spotify` uses), paced loosely."""
    return {
        "SPOTIFY_CLIENT_ID": "e2e-client",
        "SPOTIFY_CLIENT_SECRET": "e2e-secret",
        "SPOTIFY_API_URL": fake.api_url,
        "SPOTIFY_AUTH_URL": fake.auth_url,
        "SPOTIFY_REQUESTS_PER_SECOND": "200",
    }


@pytest.fixture(scope="module")
def spotify() -> Iterator[FakeSpotify]:
    with FakeSpotify(client_id="e2e-client", client_secret="e2e-secret") as fake:
        add_top100(fake)
        yield fake


@pytest.fixture(scope="module")
def enrich_deployed(
    tmp_path_factory: pytest.TempPathFactory, fake_beatport: FakeHTTPServer, spotify: FakeSpotify
) -> Iterator[Deployed]:
    """A deployment with Spotify configured, and the Top 100 collected through it."""
    with deployment(
        tmp_path_factory.mktemp("enrich"),
        fake_beatport,
        redis_url=fresh_redis_url(),
        settings=spotify_settings(spotify),
    ) as running:
        response = api.post(f"{running.base}/collect/beatport/collect", json={"genre": "tech-house"})
        assert response.status_code == 202, response.text
        collected = finished(running, response.json()["task_id"])
        assert collected["state"] == "success", collected
        assert collected["result"]["tracks_created"] == 100
        yield running


@pytest.fixture
def fake(spotify: FakeSpotify) -> Iterator[FakeSpotify]:
    yield spotify
    spotify.latency = 0.0
    spotify.server.clear()  # programmed routes (the quota trap) and the request log


def finished(deployed: Deployed, task_id: str, timeout: float = 60) -> dict[str, Any]:
    try:
        return wait_for_state(deployed.base, task_id, {"success", "failure", "cancelled"}, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{deployed.logs()}") from None


def status(deployed: Deployed, task_id: str) -> dict[str, Any]:
    response = api.get(f"{deployed.base}/tasks/status/{task_id}", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def enqueue_enrich(deployed: Deployed, **body: Any) -> str:
    response = api.post(f"{deployed.base}/collect/spotify/enrich", json=body, timeout=10)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


async def _query(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def query(deployed: Deployed, sql: str) -> list[asyncpg.Record]:
    return asyncio.run(_query(deployed.database_url, sql))


def forget_spotify(deployed: Deployed) -> None:
    """Back to "just collected": no Spotify data on any track or artist."""
    query(
        deployed,
        "UPDATE tracks SET spotify_id = NULL, spotify_url = NULL, spotify_album_id = NULL, "
        "spotify_album_name = NULL, spotify_album_type = NULL, spotify_album_release_date = NULL, "
        "spotify_duration_ms = NULL, spotify_explicit = NULL, spotify_popularity = NULL, "
        "spotify_match_method = NULL, spotify_match_score = NULL, spotify_enriched_at = NULL, "
        "spotify_match_locked_by = NULL, spotify_match_locked_at = NULL",
    )
    query(deployed, "UPDATE artists SET spotify_id = NULL, spotify_genres = NULL, spotify_fetched_at = NULL")


def test_collect_then_enrich_through_api_and_worker(enrich_deployed: Deployed, fake: FakeSpotify) -> None:
    deployed = enrich_deployed
    forget_spotify(deployed)
    tracks = top100()
    before = dict(fake.counts)

    done = finished(deployed, enqueue_enrich(deployed))

    assert done["state"] == "success", done
    assert done["task_name"] == "enrich_spotify_data"
    result = done["result"]
    assert (result["matched_isrc"], result["matched_search"], result["unmatched"]) == (70, 20, 10)
    assert result["skipped_already_enriched"] == 0 and result["paused_until"] is None
    sent = {route: n - before.get(route, 0) for route, n in fake.counts.items()}
    assert result["requests_made"] == sum(n for route, n in sent.items() if route != "token")
    assert sent["search"] == 100 + 30  # an ISRC search each, a name search for the 30 without a hit
    matched_artists = {
        spotify_name(a.name) for i, t in enumerate(tracks) if kind_of(i) != "absent" for a in t.artists
    }
    assert sent["artist"] == result["artists_fetched"] == len(matched_artists)  # once per artist
    assert fake.counts["artists_batch"] == fake.counts["tracks_batch"] == 0
    assert done["progress"]["done"] == done["progress"]["total"] == 100

    grouped = query(deployed, "SELECT spotify_match_method AS method, count(*) AS n FROM tracks GROUP BY 1")
    methods = {row["method"]: row["n"] for row in grouped}
    assert methods == {"isrc": 70, "search": 20, "none": 10}
    by_id = {
        row["id"]: row
        for row in query(deployed, "SELECT id, spotify_id, spotify_url, spotify_album_type FROM tracks")
    }
    for index, track in enumerate(tracks):
        row = by_id[track.id]
        if kind_of(index) == "absent":
            assert row["spotify_id"] is None
        else:
            assert len(row["spotify_id"]) == 22 and row["spotify_url"].endswith(row["spotify_id"])
            assert row["spotify_album_type"] == "single"
    cached = query(
        deployed, "SELECT count(DISTINCT spotify_id) AS n FROM artists WHERE spotify_fetched_at IS NOT NULL"
    )
    assert cached[0]["n"] == len(matched_artists)

    # The same request again asks Spotify nothing.
    requests_so_far = fake.api_requests
    again = finished(deployed, enqueue_enrich(deployed, only_missing=True))
    assert again["state"] == "success", again
    assert again["result"]["requests_made"] == 0 and fake.api_requests == requests_so_far
    assert again["result"]["skipped_already_enriched"] == 100


def test_worker_serves_other_tasks_while_spotify_is_slow(
    enrich_deployed: Deployed, fake: FakeSpotify
) -> None:
    deployed = enrich_deployed
    ids = [t.id for i, t in enumerate(top100()) if kind_of(i) == "isrc"][:3]
    fake.latency = 1.0  # each of the (at least) three searches takes a second
    enrich_id = enqueue_enrich(deployed, track_ids=ids, only_missing=False)
    deadline = time.monotonic() + 10
    while status(deployed, enrich_id)["state"] != "running":
        assert time.monotonic() < deadline, deployed.logs()
        time.sleep(0.05)

    collect = api.post(f"{deployed.base}/collect/beatport/collect", json={"genre": "tech-house"})
    collected = finished(deployed, collect.json()["task_id"])
    enrich_meanwhile = status(deployed, enrich_id)

    assert collected["state"] == "success", collected
    assert enrich_meanwhile["state"] == "running", enrich_meanwhile  # the collection finished first
    enriched = finished(deployed, enrich_id)
    assert enriched["state"] == "success", enriched
    assert enriched["result"]["matched_isrc"] == 3
    assert dt.datetime.fromisoformat(collected["finished_at"]) < dt.datetime.fromisoformat(
        enriched["finished_at"]
    )


def test_quota_exceeded_pauses_and_the_rest_runs_after_retry_after(
    enrich_deployed: Deployed, fake: FakeSpotify
) -> None:
    deployed = enrich_deployed
    isrc_tracks = sorted((t for i, t in enumerate(top100()) if kind_of(i) == "isrc"), key=lambda t: t.id)
    tracks, others = isrc_tracks[:5], isrc_tracks[5:7]
    trap_query = f"isrc:{tracks[2].isrc}"
    tripped = threading.Event()

    def quota_on_third_track(request: FakeRequest) -> FakeResponse:
        if request.query.get("q") == [trap_query] and not tripped.is_set():
            tripped.set()
            return quota_exceeded(retry_after=6)
        return fake._handle(request)  # everything else as usual

    fake.server.add("GET", "/v1/search", quota_on_third_track)
    ids = [t.id for t in tracks]

    paused = finished(deployed, enqueue_enrich(deployed, track_ids=ids, only_missing=False))

    assert paused["state"] == "success", paused
    result = paused["result"]
    assert tripped.is_set()
    assert result["matched_isrc"] == 2
    assert result["paused_until"] is not None and "quota exceeded" in result["paused_reason"]
    assert result["remaining_tracks"] == 3 and result["continue_after_id"] == ids[1]
    follow_up_id = result["resumed_by_task_id"]
    assert follow_up_id

    follow_up = status(deployed, follow_up_id)
    assert follow_up["task_name"] == "enrich_spotify_data"
    assert follow_up["state"] == "queued", follow_up  # waiting out Retry-After, not running yet
    # The same request again while its work waits: the follow-up holds the request's duplicate claim.
    repeat = api.post(
        f"{deployed.base}/collect/spotify/enrich", json={"track_ids": ids, "only_missing": False}, timeout=10
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json()["task_id"] == follow_up_id and repeat.json()["duplicate_of_active"] is True

    # Another enrichment while the quota stop lasts: it pauses at once, asking Spotify nothing.
    searches_before = len(fake.server.requests_to("/v1/search"))
    other = finished(deployed, enqueue_enrich(deployed, track_ids=[t.id for t in others], only_missing=False))
    assert other["state"] == "success", other
    assert other["result"]["requests_made"] == 0, other
    assert other["result"]["paused_until"] == result["paused_until"]
    assert "not sent: Spotify quota exhausted" in other["result"]["paused_reason"]
    assert len(fake.server.requests_to("/v1/search")) == searches_before
    other_follow_up = other["result"]["resumed_by_task_id"]

    resumed = finished(deployed, follow_up_id, timeout=30)
    assert resumed["state"] == "success", resumed
    assert resumed["result"]["matched_isrc"] == 3 and resumed["result"]["paused_until"] is None
    paused_until = dt.datetime.fromisoformat(result["paused_until"])
    assert dt.datetime.fromisoformat(resumed["started_at"]) >= paused_until
    rows = query(
        deployed,
        f"SELECT count(*) AS n FROM tracks WHERE id IN ({', '.join(map(str, ids))}) AND spotify_id IS NOT NULL",
    )
    assert rows[0]["n"] == 5
    # Once the follow-up has finished, the claim is free: the same request is a new task.
    again = api.post(
        f"{deployed.base}/collect/spotify/enrich", json={"track_ids": ids, "only_missing": False}, timeout=10
    )
    assert again.status_code == 202, again.text
    assert finished(deployed, again.json()["task_id"])["state"] == "success"
    assert finished(deployed, other_follow_up, timeout=30)["result"]["matched_isrc"] == 2


def test_cancelling_a_running_enrichment_stops_it_at_its_next_track(
    enrich_deployed: Deployed, fake: FakeSpotify
) -> None:
    deployed = enrich_deployed
    forget_spotify(deployed)
    fake.latency = 0.1  # every Spotify answer takes a while, so the run is still going when cancelled
    requests_before = fake.api_requests
    task_id = enqueue_enrich(deployed, only_missing=True)
    deadline = time.monotonic() + 30
    while (status(deployed, task_id).get("progress") or {}).get("done", 0) < 2:
        assert time.monotonic() < deadline, status(deployed, task_id)
        time.sleep(0.05)

    cancel = api.delete(f"{deployed.base}/tasks/{task_id}", timeout=5)
    assert cancel.status_code == 202, cancel.text  # running: it stops at its next track
    done = finished(deployed, task_id)
    assert done["state"] == "cancelled", done
    assert done["result"]["cancelled"] is True
    checked = done["progress"]["done"]
    assert 2 <= checked < 100
    # It stopped where it said: nothing past the track it was on was stored, and far fewer Spotify requests
    # were made than the 100+ a whole run makes.
    stored = query(deployed, "SELECT count(*) AS n FROM tracks WHERE spotify_enriched_at IS NOT NULL")[0]["n"]
    assert stored <= checked + 1
    assert fake.api_requests - requests_before < 100


def test_an_overlapping_enrichment_joins_the_running_one(
    enrich_deployed: Deployed, fake: FakeSpotify
) -> None:
    deployed = enrich_deployed
    forget_spotify(deployed)
    fake.latency = 0.05  # long enough that the first run is still going when the others are asked for
    first = enqueue_enrich(deployed, only_missing=True)
    wait_until(lambda: status(deployed, first)["state"] == "running", what="the first enrichment to run")
    # The whole catalogue again, however asked: the same tracks, so the same task.
    for body in ({"only_missing": True, "limit": 5}, {"force": True}, {}):
        joined = api.post(f"{deployed.base}/collect/spotify/enrich", json=body, timeout=10)
        assert joined.status_code == 200, joined.text
        assert joined.json()["task_id"] == first and "same tracks" in joined.json()["note"]
    assert finished(deployed, first)["state"] == "success"


def test_manual_decisions_survive_forced_enrichment_through_the_worker(
    enrich_deployed: Deployed, fake: FakeSpotify
) -> None:
    deployed = enrich_deployed
    forget_spotify(deployed)
    tracks = top100()
    chosen, absent = tracks[:2]
    other_version = fake.add_track(name="Chosen By Hand", artists=["Someone Else"], isrc="GBXYZ2699999")
    for track, spotify_id in ((chosen, other_version["id"]), (absent, None)):
        response = api.put(f"{deployed.base}/tracks/{track.id}/spotify", json={"spotify_id": spotify_id})
        assert response.status_code == 200, response.text
    fake.server.clear()  # from here on, the request log holds the enrichment's requests only

    done = finished(deployed, enqueue_enrich(deployed, only_missing=False, force=True))
    assert done["state"] == "success", done
    assert done["result"]["skipped_already_enriched"] == 2 and done["result"]["tracks_selected"] == 98
    # Every selected track starts with an ISRC search: exactly the other 98 tracks' ISRCs were asked for.
    searches = {r.query["q"][0] for r in fake.server.requests_to("/v1/search")}
    assert {q for q in searches if q.startswith("isrc:")} == {
        f"isrc:{t.isrc.upper()}" for t in tracks[2:] if t.isrc
    }
    assert chosen.isrc and absent.isrc
    rows = {
        row["id"]: row
        for row in query(
            deployed,
            f"SELECT id, spotify_id, spotify_match_method, spotify_match_locked_by FROM tracks "
            f"WHERE id IN ({chosen.id}, {absent.id})",
        )
    }
    assert rows[chosen.id]["spotify_id"] == other_version["id"]
    assert rows[absent.id]["spotify_id"] is None
    assert {r["spotify_match_method"] for r in rows.values()} == {"manual"}
    assert {r["spotify_match_locked_by"] for r in rows.values()} == {"API_ADMIN_KEY"}
