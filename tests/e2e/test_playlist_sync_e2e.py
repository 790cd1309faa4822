"""Mirroring a Beatport chart into the user's Spotify playlist through the real processes (api under uvicorn,
`taskiq worker`, `taskiq scheduler`, PostgreSQL, Redis) against a loopback Beatport serving the recorded
tech-house Top 100 (a different selection each "week") and a loopback Spotify (accounts service, playlist API
and search). The test plays the browser when connecting the account: it follows the redirects by hand."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis

from tests.auth import ADMIN_HEADERS
from tests.conftest import fresh_redis_url
from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import start_scheduler, wait_for_state, wait_until
from tests.e2e.test_cli_e2e import cli
from tests.e2e.test_enrich_e2e import add_top100, kind_of, spotify_settings
from tests.fakes.beatport import FakeBeatport
from tests.fakes.beatport_charts import genre_top100_week
from tests.fakes.spotify_user import FakeSpotifyAccount
from tests.spotify_connect import REDIRECT_URI, connect_deployed

pytestmark = pytest.mark.e2e

CHART = "genre-top-100-11"
WEEK1 = list(range(80))
WEEK2 = [*range(99, 79, -1), *range(20, 60)]  # 20 new on top, 40 kept (moved down), 40 dropped
WEEK3 = [*range(50, 100)]
URI_OF_INDEX: dict[int, str] = {}  # the recorded Top 100's tracks on the fake Spotify, by page index


@pytest.fixture(scope="module")
def spotify() -> Iterator[FakeSpotifyAccount]:
    """The recorded Top 100 on Spotify as the enrichment e2e has it (1 in 10 absent); the user "testdj"."""
    with FakeSpotifyAccount(
        client_id="e2e-client", client_secret="e2e-secret", redirect_uris={REDIRECT_URI}
    ) as fake:
        URI_OF_INDEX.update(add_top100(fake))
        yield fake


@pytest.fixture(scope="module")
def beatport() -> Iterator[FakeBeatport]:
    with FakeBeatport() as fake:
        yield fake


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, beatport: FakeBeatport, spotify: FakeSpotifyAccount
) -> Iterator[Deployed]:
    with deployment(
        tmp_path_factory.mktemp("playlists"),
        beatport,
        redis_url=fresh_redis_url(),
        settings=spotify_settings(spotify),
        SPOTIFY_ACCOUNTS_URL=spotify.url,
        SCHEDULE_MIN_INTERVAL_MINUTES="1",
    ) as running:
        yield running


def expected_playlist(week: list[int]) -> list[str]:
    """The week's tracks that are on Spotify, as URIs, in chart order (from what the fake was given)."""
    return [URI_OF_INDEX[i] for i in week if kind_of(i) != "absent"]


def run(deployed: Deployed, path: str, body: dict[str, Any]) -> dict[str, Any]:
    accepted = api.post(f"{deployed.base}{path}", json=body, timeout=10)
    assert accepted.status_code == 202, accepted.text
    try:
        return wait_for_state(deployed.base, accepted.json()["task_id"], {"success", "failure"}, timeout=90)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{deployed.logs()}") from None


def collect_week(deployed: Deployed, beatport: FakeBeatport, week: list[int]) -> None:
    beatport.serve_genre_top100(genre_top100_week(week))
    collected = run(deployed, "/collect/beatport/collect", {"genre": "tech-house"})
    assert collected["state"] == "success", collected
    enriched = run(deployed, "/collect/spotify/enrich", {"only_missing": True})
    assert enriched["state"] == "success", enriched


def sync(deployed: Deployed) -> dict[str, Any]:
    done = run(deployed, "/playlists/sync", {"source": {"chart_key": CHART}})
    assert done["state"] == "success", done
    result: dict[str, Any] = done["result"]
    return result


def item_writes(spotify: FakeSpotifyAccount, since: int) -> list[tuple[str, int]]:
    calls = spotify.playlists.log[since:]
    return [
        (c.method, len(c.uris))
        for c in calls
        if c.method in ("POST", "PUT", "DELETE") and c.path.endswith("/items")
    ]


def _redis_text(url: str) -> str:
    """Every key and value in the deployment's Redis, whatever its type, as text."""
    client = redis.Redis.from_url(url)
    readers: dict[Any, Any] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": client.smembers,
        b"zset": lambda key: client.zrange(key, 0, -1),
        b"stream": client.xrange,
    }
    try:
        return "\n".join(f"{key!r} {readers[client.type(key)](key)!r}" for key in client.scan_iter("*"))
    finally:
        client.close()


def _database_text(url: str) -> str:
    async def read() -> str:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            rows = [await conn.fetch(f'SELECT t::text AS row FROM "{t["tablename"]}" t') for t in tables]
            return "\n".join(str(r["row"]) for table in rows for r in table)
        finally:
            await conn.close()

    return asyncio.run(read())


def test_a_chart_mirrored_week_after_week_with_the_fewest_writes(
    deployed: Deployed, beatport: FakeBeatport, spotify: FakeSpotifyAccount
) -> None:
    connected = connect_deployed(deployed.base, ADMIN_HEADERS)
    assert connected.status_code == 200, f"{connected.text}\n{deployed.logs()}"
    assert connected.json()["display_name"] == "Test DJ"

    collect_week(deployed, beatport, WEEK1)
    first = sync(deployed)
    playlist_id = first["playlist_id"]
    assert spotify.playlists.uris_of(playlist_id) == expected_playlist(WEEK1)
    assert (first["added"], first["removed"], first["kept"], first["unmatched"]) == (72, 0, 0, 8)
    assert item_writes(spotify, 0) == [("POST", 72)]  # one write after creating the playlist

    spotify.accounts.rotate_refresh = True
    spotify.accounts.expire_now()  # week 2 starts with a refused access token: refreshed (and rotated)
    collect_week(deployed, beatport, WEEK2)
    before = len(spotify.playlists.log)
    second = sync(deployed)
    assert second["playlist_id"] == playlist_id
    assert spotify.playlists.uris_of(playlist_id) == expected_playlist(WEEK2)
    assert item_writes(spotify, before) == [("PUT", 54)]  # reordered: one replace
    assert (second["added"], second["removed"], second["kept"]) == (18, 36, 36)

    before = len(spotify.playlists.log)
    third = sync(deployed)
    assert item_writes(spotify, before) == [] and third["writes"] == 0
    assert [c.method for c in spotify.playlists.log[before:]] == ["GET"]  # its snapshot only
    assert not any("/users/" in c.path or c.path.endswith("/tracks") for c in spotify.playlists.log)

    # Every token Spotify handed out (the consent's refresh token, the rotated one, access tokens) is stored
    # sealed or not at all: none is readable in Redis or the database.
    issued = spotify.accounts.issued_secrets()
    assert spotify.accounts.counts["token_refresh_token"] >= 1 and len(issued) >= 4
    stored_redis, stored_database = _redis_text(deployed.redis_url), _database_text(deployed.database_url)
    assert "testdj" in stored_database and "sync_spotify_playlist" in stored_redis  # the scans read them
    for secret in issued:
        assert secret not in stored_redis and secret not in stored_database


def test_one_schedule_collects_enriches_then_mirrors(
    deployed: Deployed, beatport: FakeBeatport, spotify: FakeSpotifyAccount
) -> None:
    """The README's example: every Monday 06:00 collect the Top 100, enrich what is new, mirror it — here every
    minute, which a scheduler runs as soon as it starts."""
    if api.get(f"{deployed.base}/auth/spotify", timeout=10).status_code != 200:
        assert connect_deployed(deployed.base, ADMIN_HEADERS).status_code == 200
    beatport.serve_genre_top100(genre_top100_week(WEEK3))
    created = api.post(
        f"{deployed.base}/schedules",
        json={
            "cron": "* * * * *",
            "collect": {"genre": "tech-house"},
            "enrich": {"only_missing": True},
            "sync": {"source": {"chart_key": CHART}},
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["kind"] == "collect" and [s["kind"] for s in schedule["then"]] == ["enrich", "sync"]
    wanted = expected_playlist(WEEK3)
    scheduler = start_scheduler(deployed.env, deployed.log_dir)
    try:
        wait_until(
            lambda: any(p.uris == wanted for p in spotify.playlists.owned_by("testdj")),
            what=f"the scheduled chain to mirror week 3\n{deployed.logs()}\n{scheduler.log()}",
            timeout=120,
        )
    finally:
        scheduler.stop()
        api.delete(f"{deployed.base}/schedules/{schedule['id']}", timeout=10)
    assert len(spotify.playlists.owned_by("testdj")) == 1  # the same playlist, remembered


def test_a_watchlist_run_enriches_then_mirrors_its_new_tracks(
    deployed: Deployed, beatport: FakeBeatport, spotify: FakeSpotifyAccount
) -> None:
    """A watchlist with `sync`: its run that found new tracks starts enrich → sync, a chain the scheduler advances;
    the playlist holds the watchlist's matched new tracks, newest first."""
    if api.get(f"{deployed.base}/auth/spotify", timeout=10).status_code != 200:
        assert connect_deployed(deployed.base, ADMIN_HEADERS).status_code == 200
    beatport.serve_genre_top100(genre_top100_week(WEEK3))
    made = api.post(
        f"{deployed.base}/watchlists",
        json={
            "name": "Tech house watch",
            "targets": ["/genre/tech-house/11/top-100"],
            "cron": "0 7 * * 1",
            "sync": {"name": "Tech house watch"},
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    watchlist_id = made.json()["id"]
    scheduler = start_scheduler(deployed.env, deployed.log_dir)
    try:
        ran = run(deployed, f"/watchlists/{watchlist_id}/run", {})
        assert ran["state"] == "success" and ran["result"]["new_tracks"] == len(WEEK3), ran
        enrich = wait_for_state(
            deployed.base, ran["result"]["sync_task_id"], {"success", "failure"}, timeout=90
        )
        assert enrich["task_name"] == "enrich_spotify_data" and enrich["state"] == "success", enrich

        def mirrored() -> bool:
            return any(p.name == "Tech house watch" for p in spotify.playlists.owned_by("testdj"))

        wait_until(mirrored, what=f"the watchlist's sync\n{deployed.logs()}\n{scheduler.log()}", timeout=60)
    finally:
        scheduler.stop()
    new = api.get(
        f"{deployed.base}/watchlists/{watchlist_id}/tracks", params={"limit": 100}, timeout=10
    ).json()
    wanted = [f"spotify:track:{t['spotify_id']}" for t in new["items"] if t["spotify_id"]]
    (playlist,) = [p for p in spotify.playlists.owned_by("testdj") if p.name == "Tech house watch"]
    wait_until(
        lambda: playlist.uris == wanted, what="the playlist to hold the watchlist, newest first", timeout=30
    )
    assert set(wanted) == set(expected_playlist(WEEK3))


def test_an_expired_refresh_token_fails_the_sync_with_reconnect_spotify(
    deployed: Deployed, spotify: FakeSpotifyAccount
) -> None:
    if api.get(f"{deployed.base}/auth/spotify", timeout=10).status_code != 200:
        assert connect_deployed(deployed.base, ADMIN_HEADERS).status_code == 200
    spotify.accounts.age_consents(200 * 24 * 3600)  # six months and more since consent
    spotify.accounts.expire_now()
    refreshes = spotify.accounts.counts["token_refresh_token"]
    failed = run(deployed, "/playlists/sync", {"source": {"tracks": {"genre": "tech-house"}}})
    assert failed["state"] == "failure" and "reconnect Spotify" in failed["error"]["message"], failed
    assert failed["attempt"] == 1  # never retried
    assert spotify.accounts.counts["token_refresh_token"] == refreshes + 1
    account = api.get(f"{deployed.base}/auth/spotify", timeout=10).json()
    assert account["needs_reconsent"] is True and "reconnect Spotify" in account["note"]
    health = api.get(f"{deployed.base}/health", timeout=10).json()
    assert health["checks"]["spotify_account"]["needs_reconsent"] is True
    refused = api.post(f"{deployed.base}/playlists/sync", json={"source": {"tracks": {}}}, timeout=10)
    assert refused.status_code == 409 and "reconnect Spotify" in refused.json()["detail"]

    def dead_lettered() -> bool:
        letters = api.get(f"{deployed.base}/tasks/dead-letters", timeout=10).json()["items"]
        return any(letter["task_name"] == "sync_spotify_playlist" for letter in letters)

    wait_until(dead_lettered, what="the failed sync's dead letter", timeout=15)


def test_the_cli_connects_the_account_and_syncs_a_chart(
    deployed: Deployed, beatport: FakeBeatport, spotify: FakeSpotifyAccount, tmp_path: Path
) -> None:
    """`cratedigger spotify disconnect|status|connect` and `playlists sync --wait` as a person runs them (the test
    plays the browser that opens the printed URL)."""
    if api.get(f"{deployed.base}/auth/spotify", timeout=10).status_code == 200:
        forgotten = cli(deployed, tmp_path, "spotify", "disconnect", "--yes")
        assert forgotten.returncode == 0, forgotten.stderr
    missing = cli(deployed, tmp_path, "spotify", "status")
    assert missing.returncode == 1 and "No Spotify account is connected" in missing.stderr, missing

    started = cli(deployed, tmp_path, "spotify", "connect", "--no-open")
    assert started.returncode == 0, started.stderr
    approved = httpx.get(started.stdout.strip(), follow_redirects=False, timeout=10)  # the browser
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert httpx.get(f"{deployed.base}{back.path}?{back.query}", timeout=30).status_code == 200
    shown = cli(deployed, tmp_path, "spotify", "status")
    assert shown.returncode == 0 and "Test DJ" in shown.stdout, shown

    collect_week(deployed, beatport, WEEK3)
    synced = cli(deployed, tmp_path, "playlists", "sync", "--chart", CHART, "--wait")
    assert synced.returncode == 0, f"{synced.stdout}\n{synced.stderr}"
    summary = re.search(r"playlist (\w+): (\d+) added, (\d+) removed, (\d+) kept", synced.stdout)
    assert summary is not None, synced.stdout
    wanted = expected_playlist(WEEK3)
    assert spotify.playlists.uris_of(summary.group(1)) == wanted
    assert int(summary.group(2)) + int(summary.group(4)) == len(wanted)
