"""EnrichmentService against FakeSpotify (real loopback HTTP, spotipy unchanged) and PostgreSQL.

The database holds the real tech-house Top 100 (parsed from the recorded page and stored through the catalog
repository once per module); each test clears the Spotify columns and programs the fake with items carrying
those tracks' real ISRCs, names and lengths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.catalog import store_tracks
from app.db.models import Artist, Track
from app.db.session import create_engine, create_sessionmaker
from app.errors import PermanentSourceError
from app.services.enrichment import EnrichmentService
from app.services.enrichment_request import EnrichmentSummary, EnrichRequest
from app.sources.beatport.entities import BeatportTrack
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import parse_target
from app.sources.cooldown import Cooldown
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify import CREDENTIALS_REJECTED, SpotifyClient, spotify_quota_key
from tests.conftest import fresh_pg_database
from tests.fakes.spotify import (
    FakeSpotify,
    fake_id,
    make_track_item,
    not_found,
    quota_exceeded,
    rate_limited,
    server_error,
)
from tests.fixtures.beatport import GENRE_TOP100_PATH, genre_top100_html

Sessions = async_sessionmaker[AsyncSession]
FAST_RETRIES: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05}
_SAME: Any = object()


@functools.cache
def top100() -> tuple[BeatportTrack, ...]:
    page = parse_html(
        genre_top100_html(),
        kind=parse_target(GENRE_TOP100_PATH).kind,
        url=f"https://www.beatport.com{GENRE_TOP100_PATH}",
    )
    return tuple(page.tracks)


def bp(index: int) -> BeatportTrack:
    """The Top 100 track at page position `index` (0-based)."""
    return top100()[index]


def spotify_name(name: str) -> str:
    return name.split(" (")[0] if name.endswith(")") else name  # Spotify: "Chico Rose", Beatport: "... (NL)"


def register(
    fake: FakeSpotify,
    track: BeatportTrack,
    *,
    name: str | None = None,
    artists: list[str] | None = None,
    isrc: Any = _SAME,
    duration_ms: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Put `track` on the fake Spotify as "<title> - <mix>" by its artists, with its ISRC and length."""
    return fake.add_track(
        name=name or f"{track.name} - {track.mix_name}",
        artists=artists or [spotify_name(a.name) for a in track.artists],
        isrc=track.isrc if isrc is _SAME else isrc,
        duration_ms=duration_ms or track.length_ms or 300_000,
        **kwargs,
    )


def registered(fake: FakeSpotify, indices: Iterable[int]) -> list[BeatportTrack]:
    """Top 100 tracks (by index) put on the fake Spotify, in id order (the order enrichment takes them)."""
    tracks = sorted((bp(i) for i in indices), key=lambda t: t.id)
    for track in tracks:
        register(fake, track)
    return tracks


def artist_id(name: str) -> str:
    return fake_id(f"artist:{name}")  # what FakeSpotify.add_track gives an artist by default


# -- fixtures ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="module")
async def stored_sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        await store_tracks(session, tracks=top100())
    try:
        yield sessions
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(stored_sessions: Sessions) -> Sessions:
    """The Top 100 with no Spotify data at all (as just collected)."""
    async with stored_sessions.begin() as session:
        await session.execute(
            update(Track).values(
                spotify_id=None,
                spotify_url=None,
                spotify_album_id=None,
                spotify_album_name=None,
                spotify_album_type=None,
                spotify_album_release_date=None,
                spotify_duration_ms=None,
                spotify_explicit=None,
                spotify_popularity=None,
                spotify_match_method=None,
                spotify_match_score=None,
                spotify_enriched_at=None,
            )
        )
        await session.execute(
            update(Artist).values(spotify_id=None, spotify_genres=None, spotify_fetched_at=None)
        )
    return stored_sessions


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeSpotify]:
    with FakeSpotify(client_id="id", client_secret="secret") as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeSpotify) -> FakeSpotify:
    fake_server.reset()
    return fake_server


def settings_for(fake: FakeSpotify, *, secret: str = "secret") -> Settings:
    return Settings(
        spotify_client_id="id",
        spotify_client_secret=secret,
        spotify_api_url=fake.api_url,
        spotify_auth_url=fake.auth_url,
        _env_file=None,
    )


def new_client(fake: FakeSpotify, *, secret: str = "secret", **kwargs: Any) -> SpotifyClient:
    # An unpaced limiter of its own: the process-wide one would carry Retry-After holds between tests.
    return SpotifyClient.from_settings(
        settings_for(fake, secret=secret), limiter=AsyncRateLimiter(None), **{**FAST_RETRIES, **kwargs}
    )


@pytest.fixture
async def client(fake: FakeSpotify) -> AsyncIterator[SpotifyClient]:
    async with new_client(fake) as c:
        yield c


async def enrich(sessions: Sessions, client: SpotifyClient, **kwargs: Any) -> EnrichmentSummary:
    return await EnrichmentService(sessions=sessions, client=client).enrich(**kwargs)


async def track_row(sessions: Sessions, track_id: int) -> Track:
    async with sessions() as session:
        return (await session.execute(select(Track).where(Track.id == track_id))).scalar_one()


async def artist_row(sessions: Sessions, beatport_id: int) -> Artist:
    async with sessions() as session:
        return (await session.execute(select(Artist).where(Artist.id == beatport_id))).scalar_one()


class RecordingResume:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, request: EnrichRequest, *, delay_seconds: int) -> str:
        self.calls.append({**request.as_kwargs(), "delay_seconds": delay_seconds})
        return f"follow-up-{len(self.calls)}"

    def follow_up(self, index: int = -1) -> dict[str, Any]:
        """The arguments the follow-up task would run `enrich` with."""
        return {k: v for k, v in self.calls[index].items() if k != "delay_seconds"}


# -- matching ----------------------------------------------------------------------------------------------
async def test_isrc_hit_stores_track_and_each_artist(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    track = bp(0)  # Stay Sexy (Extended Mix) by Mili, HUGEL, LaBritney
    item = register(fake, track, popularity=None)
    fake.add_artist(artist_id("HUGEL"), "HUGEL", genres=None)  # Dev-Mode shape: no genres key
    fake.add_artist(artist_id("LaBritney"), "LaBritney", genres=[])  # classified as nothing

    summary = await enrich(sessions, client, track_ids=[track.id])

    assert (summary.matched_isrc, summary.matched_search, summary.unmatched) == (1, 0, 0)
    assert summary.requests_made == 4 == fake.api_requests  # one ISRC search + one GET per artist
    assert fake.counts["search"] == 1 and fake.counts["artist"] == 3
    assert fake.counts["artists_batch"] == fake.counts["tracks_batch"] == fake.counts["track"] == 0
    assert summary.artists_fetched == 3
    search = fake.server.requests_to("/v1/search")[0]
    assert search.query["q"] == [f"isrc:{track.isrc}"]
    assert search.query["market"] == ["US"] and search.query["limit"] == ["10"]

    row = await track_row(sessions, track.id)
    assert row.spotify_id == item["id"]
    assert row.spotify_url == f"https://open.spotify.com/track/{item['id']}"
    assert row.spotify_album_id == item["album"]["id"]
    assert row.spotify_album_name == "Stay Sexy"
    assert row.spotify_album_type == "single"
    assert row.spotify_album_release_date == "2025-09-12"
    assert row.spotify_duration_ms == track.length_ms
    assert row.spotify_explicit is False
    assert row.spotify_popularity is None  # not returned to Development-Mode apps
    assert row.spotify_match_method == "isrc"
    assert row.spotify_match_score is not None and row.spotify_match_score >= 0.99
    assert row.spotify_enriched_at is not None

    mili, hugel, labritney = [await artist_row(sessions, a.id) for a in track.artists]
    assert (mili.spotify_id, hugel.spotify_id, labritney.spotify_id) == tuple(
        artist_id(name) for name in ("Mili", "HUGEL", "LaBritney")
    )
    assert mili.spotify_genres and all(isinstance(g, str) for g in mili.spotify_genres)
    assert hugel.spotify_genres is None  # unknown
    assert labritney.spotify_genres == []  # known to have none
    assert all(a.spotify_fetched_at is not None for a in (mili, hugel, labritney))


async def test_several_isrc_hits_choose_same_mix_single_earliest(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    track = bp(0)
    register(fake, track, album_type="compilation", release_date="2025-01-20", album_name="Tech House 2025")
    register(fake, track, name="Stay Sexy - Radio Edit", release_date="2024-12-01", duration_ms=181_000)
    chosen = register(fake, track, release_date="2025-02-14")
    register(fake, track, release_date="2025-08-01")  # a later reissue of the same single
    register(
        fake, track, name="Something Else", artists=["Other Act"], release_date="2023-01-01"
    )  # ISRC reused

    summary = await enrich(sessions, client, track_ids=[track.id])

    assert summary.matched_isrc == 1
    assert fake.counts["search"] == 1  # all five answered one ISRC search: no fallback needed
    row = await track_row(sessions, track.id)
    assert row.spotify_id == chosen["id"]
    assert (row.spotify_album_type, row.spotify_album_release_date) == ("single", "2025-02-14")
    assert fake.counts["artist"] == 3  # the collision's "Other Act" is never looked up


async def test_zero_isrc_hits_fall_back_to_title_artist_search(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    plain = bp(1)  # I Never Knew (Extended Mix) by Adam Ten; Spotify has it without ISRC and without the mix
    suffixed = bp(11)  # Take Our Time (Extended Mix) by "Chico Rose (NL)"; Spotify: "Chico Rose", other ISRC
    item_plain = register(
        fake, plain, name="I Never Knew", isrc=None, duration_ms=(plain.length_ms or 0) + 1_200
    )
    item_suffixed = register(fake, suffixed, isrc="QM7282643599")

    summary = await enrich(sessions, client, track_ids=[plain.id, suffixed.id])

    assert (summary.matched_isrc, summary.matched_search, summary.unmatched) == (0, 2, 0)
    queries = [r.query["q"][0] for r in fake.server.requests_to("/v1/search")]
    assert queries == [
        f"isrc:{plain.isrc}",
        'track:"I Never Knew" artist:"Adam Ten"',
        f"isrc:{suffixed.isrc}",
        'track:"Take Our Time" artist:"Chico Rose"',  # Beatport's "(NL)" is not Spotify's spelling
    ]
    for track, item in ((plain, item_plain), (suffixed, item_suffixed)):
        row = await track_row(sessions, track.id)
        assert (row.spotify_id, row.spotify_match_method) == (item["id"], "search")
        assert row.spotify_match_score is not None and row.spotify_match_score >= 0.75
    chico = await artist_row(sessions, suffixed.artists[0].id)
    assert chico.spotify_id == artist_id("Chico Rose") and chico.spotify_fetched_at is not None


async def test_near_miss_is_rejected_recorded_and_not_searched_again_unless_forced(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    track = bp(6)  # Never Leave U (Extended Mix) by Sonny Kane, 6:00
    query = 'track:"Never Leave U" artist:"Sonny Kane"'
    fake.set_search(
        query,
        [
            make_track_item(name="Never Leave U - Dub Mix", artists=["Sonny Kane"], duration_ms=360_100),
            make_track_item(
                name="Never Leave U", artists=["Sonny Kane"], duration_ms=190_000
            ),  # radio length
            make_track_item(
                name="Never Leave U - Extended Mix", artists=["Someone Else"], duration_ms=360_675
            ),
        ],
    )

    first = await enrich(sessions, client, track_ids=[track.id])

    assert (first.matched_isrc, first.matched_search, first.unmatched) == (0, 0, 1)
    assert first.requests_made == 2 and fake.counts["search"] == 2 and fake.counts["artist"] == 0
    row = await track_row(sessions, track.id)
    assert row.spotify_id is None and row.spotify_match_method == "none"
    assert row.spotify_enriched_at is not None

    again = await enrich(sessions, client, track_ids=[track.id])
    assert again.requests_made == 0 and again.skipped_already_enriched == 1 and again.tracks_selected == 0
    not_forced = await enrich(sessions, client, track_ids=[track.id], only_missing=False)
    assert not_forced.requests_made == 0 and not_forced.skipped_already_enriched == 1

    forced = await enrich(sessions, client, track_ids=[track.id], force=True)
    assert forced.requests_made == 2 and forced.unmatched == 1 and forced.skipped_already_enriched == 0


# -- what a second run costs -------------------------------------------------------------------------------
async def test_second_run_makes_zero_requests_for_checked_tracks(
    sessions: Sessions, fake: FakeSpotify
) -> None:
    matched, by_search, missing = bp(0), bp(1), bp(2)
    register(fake, matched)
    register(fake, by_search, name="I Never Knew", isrc=None)
    ids = [matched.id, by_search.id, missing.id]
    async with new_client(fake) as client:
        first = await enrich(sessions, client, track_ids=ids)
    assert (first.matched_isrc, first.matched_search, first.unmatched) == (1, 1, 1)
    sent = fake.api_requests

    async with new_client(fake) as client:
        second = await enrich(sessions, client, track_ids=ids)
        assert client.token_requests == 0  # not even a token was asked for the second run
        everything = await enrich(sessions, client, limit=1)  # no ids: the whole catalogue
    assert second.requests_made == 0 and fake.api_requests == sent + everything.requests_made
    assert second.skipped_already_enriched == 3 and second.tracks_selected == 0
    assert everything.skipped_already_enriched == 3 and everything.tracks_selected == 1

    # only_missing=False re-checks the matches (not the miss); force re-checks the miss too.
    async with new_client(fake) as client:
        refresh = await enrich(sessions, client, track_ids=ids, only_missing=False)
        assert (refresh.matched_isrc, refresh.matched_search, refresh.skipped_already_enriched) == (1, 1, 1)
        assert refresh.artists_fetched == 0  # artists are cached for good
        retry_misses = await enrich(sessions, client, track_ids=ids, force=True)
        assert retry_misses.tracks_selected == 1 and retry_misses.skipped_already_enriched == 2


async def test_each_artist_fetched_once_across_tracks_and_runs(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    first_run = [bp(11), bp(43)]  # both by Chico Rose (NL)
    second_run = [bp(44), bp(0), bp(41)]  # Chico Rose again; HUGEL on two of them
    for track in (*first_run, *second_run):
        register(fake, track)

    one = await enrich(sessions, client, track_ids=[t.id for t in first_run])
    two = await enrich(sessions, client, track_ids=[t.id for t in second_run])

    assert one.matched_isrc == 2 and two.matched_isrc == 3
    assert one.artists_fetched == 1  # Chico Rose
    assert two.artists_fetched == 5  # Mili, HUGEL, LaBritney, Sonique, Matt Sassari
    artist_paths = [r.path for r in fake.server.requests if r.path.startswith("/v1/artists/")]
    assert len(artist_paths) == len(set(artist_paths)) == 6
    assert two.requests_made == 3 + 5
    hugel = await artist_row(sessions, next(a.id for a in bp(0).artists if a.name == "HUGEL"))
    assert hugel.spotify_id == artist_id("HUGEL") and hugel.spotify_fetched_at is not None


async def test_artist_gone_from_spotify_is_cached_as_unknown(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    track = bp(10)  # Freak Me Baby by Luke DuBose
    register(fake, track)
    fake.server.add("GET", f"/v1/artists/{artist_id('Luke DuBose')}", not_found())

    summary = await enrich(sessions, client, track_ids=[track.id])

    assert summary.matched_isrc == 1 and summary.artists_fetched == 1
    artist = await artist_row(sessions, track.artists[0].id)
    assert artist.spotify_id == artist_id("Luke DuBose")
    assert artist.spotify_genres is None and artist.spotify_fetched_at is not None


# -- selection and progress --------------------------------------------------------------------------------
async def test_limit_takes_tracks_in_id_order_and_reports_progress(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    seen: list[tuple[int, int | None]] = []

    async def progress(*, done: int, total: int | None, message: str) -> None:
        seen.append((done, total))

    lowest = sorted(t.id for t in top100())
    service = EnrichmentService(sessions=sessions, client=client, progress=progress)
    first = await service.enrich(limit=3)
    second = await service.enrich(limit=3)

    assert first.tracks_selected == 3 and first.unmatched == 3  # nothing registered on Spotify
    assert seen[:4] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert second.skipped_already_enriched == 3 and second.tracks_selected == 3
    async with sessions() as session:
        checked = (
            (
                await session.execute(
                    select(Track.id).where(Track.spotify_enriched_at.is_not(None)).order_by(Track.id)
                )
            )
            .scalars()
            .all()
        )
    assert list(checked) == lowest[:6]


# -- rate limits, quota, errors ----------------------------------------------------------------------------
async def test_short_429_is_waited_out(sessions: Sessions, fake: FakeSpotify, client: SpotifyClient) -> None:
    track = bp(1)
    register(fake, track)
    fake.fail_api(rate_limited(retry_after=1))

    started = time.monotonic()
    summary = await enrich(sessions, client, track_ids=[track.id])

    assert time.monotonic() - started >= 0.9
    assert summary.matched_isrc == 1 and summary.paused_until is None
    assert summary.requests_made == 3  # 429, the search again, the artist
    assert (await track_row(sessions, track.id)).spotify_match_method == "isrc"


async def test_quota_exceeded_pauses_keeps_work_and_schedules_the_rest(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    tracks = sorted([bp(1), bp(10), bp(36)], key=lambda t: t.id)  # one artist each
    for track in tracks:
        register(fake, track)

    async def progress(*, done: int, total: int | None, message: str) -> None:
        if done == 1:  # Spotify's quota runs out right after the first track
            fake.fail_api(quota_exceeded(retry_after=3600))

    resume = RecordingResume()
    service = EnrichmentService(sessions=sessions, client=client, progress=progress, resume=resume)
    started = time.monotonic()
    summary = await service.enrich(track_ids=[t.id for t in tracks])

    assert time.monotonic() - started < 2  # not slept on
    assert summary.matched_isrc == 1 and summary.tracks_considered == 1
    assert summary.requests_made == 3 == fake.api_requests  # search + artist, then the one 429
    assert summary.paused_until is not None and "quota exceeded" in (summary.paused_reason or "")
    resume_at = dt.datetime.fromisoformat(summary.paused_until)
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert abs((resume_at - expected).total_seconds()) < 5
    assert summary.remaining_tracks == 2 and summary.continue_after_id == tracks[0].id
    assert resume.calls == [
        {
            "track_ids": [t.id for t in tracks],  # the same request, continued after the last track decided
            "only_missing": True,
            "force": False,
            "limit": None,
            "after_id": tracks[0].id,
            "delay_seconds": resume.calls[0]["delay_seconds"],
        }
    ]
    assert 3599 <= resume.calls[0]["delay_seconds"] <= 3602
    assert summary.resumed_by_task_id == "follow-up-1"
    assert (await track_row(sessions, tracks[0].id)).spotify_id is not None  # kept
    assert [(await track_row(sessions, t.id)).spotify_enriched_at for t in tracks[1:]] == [None, None]

    # The follow-up (a new task, so a new client) picks up exactly the rest.
    async with new_client(fake) as later:
        rest = await enrich(sessions, later, **resume.follow_up())
    assert (
        rest.tracks_selected == 2
        and rest.matched_isrc == 2
        and rest.paused_until is None
        and rest.requests_made == 4
    )


async def test_a_quota_stop_is_shared_with_every_enrichment_task(
    sessions: Sessions, fake: FakeSpotify, redis_url: str
) -> None:
    tracks = registered(fake, [1, 10, 36])
    key = spotify_quota_key("id")
    # Two workers' views of the same quota, through Redis.
    redis_a, redis_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        fake.fail_api(quota_exceeded(retry_after=3600))
        async with new_client(fake) as client:
            first = await EnrichmentService(
                sessions=sessions, client=client, quota=Cooldown(key=key, redis=redis_a)
            ).enrich(track_ids=[tracks[0].id])
        assert first.paused_until is not None and first.requests_made == 1 == fake.api_requests
        assert 3590 <= await redis_a.ttl(key) <= 3600  # it ends by itself when Spotify said

        resume = RecordingResume()
        async with new_client(fake) as client:
            second = await EnrichmentService(
                sessions=sessions, client=client, quota=Cooldown(key=key, redis=redis_b), resume=resume
            ).enrich(track_ids=[t.id for t in tracks])
    finally:
        await redis_a.aclose()
        await redis_b.aclose()
    assert fake.api_requests == 1  # the second task asked Spotify nothing
    assert second.requests_made == 0 and second.tracks_considered == 0
    assert second.paused_until == first.paused_until
    assert "not sent: Spotify quota exhausted until" in (second.paused_reason or "")
    assert "quota exceeded (HTTP 429)" in (second.paused_reason or "")  # what the first task met
    assert second.remaining_tracks == 3 and second.continue_after_id is None
    assert len(resume.calls) == 1 and 3590 <= resume.calls[0]["delay_seconds"] <= 3602

    # Another Spotify app (client id) has its own quota: its tasks are not stopped by this one's.
    assert spotify_quota_key("other-app") != key


async def test_a_selection_longer_than_the_time_budget_continues_in_a_follow_up(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    tracks = registered(fake, range(8))
    ids = [t.id for t in tracks]
    fake.latency = 0.05  # each track takes a few requests, so ~0.1-0.3 s
    resume = RecordingResume()
    service = EnrichmentService(
        sessions=sessions,
        client=client,
        resume=resume,
        task_timeout_seconds=0.5,  # budget: 0.45 s
    )
    summary = await service.enrich(track_ids=ids)

    done = summary.tracks_considered
    assert 1 <= done < len(ids), summary
    assert summary.paused_until is None  # nothing to wait for: the follow-up starts at once
    assert (summary.paused_reason or "").startswith("time budget: stopped after")
    assert f"{len(ids) - done} tracks continue in a follow-up task" in (summary.paused_reason or "")
    assert summary.remaining_tracks == len(ids) - done
    assert summary.continue_after_id == ids[done - 1]
    assert resume.calls == [
        {
            "track_ids": ids,
            "only_missing": True,
            "force": False,
            "limit": None,
            "after_id": ids[done - 1],
            "delay_seconds": 0,
        }
    ]
    assert summary.resumed_by_task_id == "follow-up-1"

    rest = await enrich(sessions, client, **resume.follow_up())
    assert rest.tracks_considered == len(ids) - done and rest.remaining_tracks == 0
    enriched = [(await track_row(sessions, i)).spotify_enriched_at is not None for i in ids]
    assert all(enriched)


async def test_the_hand_over_leaves_room_for_the_slowest_track(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    tracks = registered(fake, [1, 10, 36])  # one artist each: an ISRC search and an artist look-up per track
    fake.latency = 0.37  # so a track takes ~0.78 s
    resume = RecordingResume()
    service = EnrichmentService(sessions=sessions, client=client, resume=resume, task_timeout_seconds=2.0)
    started = time.monotonic()
    summary = await service.enrich(track_ids=[t.id for t in tracks])
    took = time.monotonic() - started
    # After one track (~0.78 s) a second would still end before 90% of the budget (1.8 s), but a third would
    # not fit: with twice the slowest track as the margin, the task hands over after the first.
    assert summary.tracks_considered == 1 and summary.resumed_by_task_id == "follow-up-1", summary
    assert took < 2.0, (took, summary)


async def test_a_follow_up_always_checks_at_least_one_track(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    tracks = registered(fake, range(3))
    resume = RecordingResume()
    service = EnrichmentService(sessions=sessions, client=client, resume=resume, task_timeout_seconds=1e-6)
    summary = await service.enrich(track_ids=[t.id for t in tracks])
    assert summary.tracks_considered == 1  # a budget spent before the first track still makes progress
    assert resume.follow_up()["after_id"] == tracks[0].id


async def test_an_open_selection_continues_by_cursor_with_the_limit_left(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    # Nothing is registered on Spotify: every track is a quick miss. Each task checks one track, then
    # hands over, as a chain of tasks on a large catalogue would.
    resume = RecordingResume()

    def one_track_per_task() -> EnrichmentService:
        return EnrichmentService(sessions=sessions, client=client, resume=resume, task_timeout_seconds=1e-6)

    first = await one_track_per_task().enrich(limit=4)  # no track ids: the 4 lowest never-checked ids
    assert first.tracks_selected == 4 and first.tracks_considered == 1
    while resume.calls and len(resume.calls) < 10 and resume.calls[-1]["limit"] > 1:
        await one_track_per_task().enrich(**resume.follow_up())
    async with sessions() as session:
        all_ids = list((await session.execute(select(Track.id).order_by(Track.id))).scalars())
    assert [c["track_ids"] for c in resume.calls] == [None, None, None]  # never a list of ids
    assert [(c["limit"], c["after_id"]) for c in resume.calls] == [
        (3, all_ids[0]),
        (2, all_ids[1]),
        (1, all_ids[2]),
    ]
    last = await one_track_per_task().enrich(**resume.follow_up())
    assert last.tracks_considered == 1 and last.resumed_by_task_id is None  # the chain ends
    checked = [(await track_row(sessions, i)).spotify_enriched_at is not None for i in all_ids]
    assert checked == [True] * 4 + [False] * (len(all_ids) - 4)


async def test_a_selection_larger_than_a_chunk_is_read_a_chunk_at_a_time(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    progress: list[tuple[int, int | None]] = []

    async def record(*, done: int, total: int | None, message: str) -> None:
        progress.append((done, total))

    tracks = registered(fake, range(7))
    service = EnrichmentService(sessions=sessions, client=client, progress=record, selection_chunk=3)
    summary = await service.enrich(track_ids=[t.id for t in tracks])
    assert summary.tracks_selected == summary.tracks_considered == summary.matched_isrc == 7
    assert progress == [(n, 7) for n in range(8)]


async def test_quota_during_artist_lookups_keeps_fetched_artists(
    sessions: Sessions, fake: FakeSpotify
) -> None:
    track = bp(0)  # Mili, HUGEL, LaBritney
    register(fake, track)
    fake.server.add("GET", f"/v1/artists/{artist_id('HUGEL')}", quota_exceeded(retry_after=600))

    async with new_client(fake) as client:
        paused = await enrich(sessions, client, track_ids=[track.id])
    assert paused.paused_until is not None and paused.remaining_tracks == 1
    assert paused.continue_after_id is None  # the follow-up starts at the beginning of the request
    assert paused.matched_isrc == 0 and paused.artists_fetched == 1
    assert (await track_row(sessions, track.id)).spotify_enriched_at is None  # checked again on resume
    mili = await artist_row(sessions, track.artists[0].id)
    assert mili.spotify_id == artist_id("Mili") and mili.spotify_fetched_at is not None

    fake.server.clear()
    async with new_client(fake) as client:
        resumed = await enrich(sessions, client, track_ids=[track.id])
    assert resumed.matched_isrc == 1 and resumed.artists_fetched == 2  # Mili is not asked for again
    artist_paths = [r.path for r in fake.server.requests if r.path.startswith("/v1/artists/")]
    assert f"/v1/artists/{artist_id('Mili')}" not in artist_paths
    assert resumed.requests_made == 3


async def test_server_errors_are_retried(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    track = bp(1)
    register(fake, track)
    fake.fail_api(server_error(500), server_error(503))

    summary = await enrich(sessions, client, track_ids=[track.id])

    assert summary.matched_isrc == 1 and summary.requests_made == 4  # 500, 503, search, artist
    assert (await track_row(sessions, track.id)).spotify_match_method == "isrc"


async def test_bad_credentials_fail_fast_with_a_clear_error(sessions: Sessions, fake: FakeSpotify) -> None:
    register(fake, bp(1))
    async with new_client(fake, secret="not-the-secret", backoff_base=1.0) as client:
        started = time.monotonic()
        with pytest.raises(PermanentSourceError) as caught:
            await enrich(sessions, client, track_ids=[bp(1).id])
        elapsed = time.monotonic() - started

    assert str(caught.value) == CREDENTIALS_REJECTED == "Spotify rejected the client credentials"
    assert elapsed < 0.5
    assert fake.counts["token"] == 1 and fake.api_requests == 0
    assert (await track_row(sessions, bp(1).id)).spotify_enriched_at is None  # not recorded as a miss


# -- the event loop --------------------------------------------------------------------------------------
async def test_event_loop_stays_responsive_during_a_slow_spotify(
    sessions: Sessions, fake: FakeSpotify, client: SpotifyClient
) -> None:
    tracks = [bp(1), bp(10)]  # one ISRC search and one artist each: 4 answers of 0.5 s
    for track in tracks:
        register(fake, track)
    fake.latency = 0.5
    ticks: list[float] = []
    other_done: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def other_work() -> None:  # another task's database work, started mid-enrichment
        await asyncio.sleep(0.3)
        async with sessions() as session:
            await session.execute(select(Track.id).limit(5))
        other_done.append(time.monotonic())

    ticking = asyncio.create_task(ticker())
    try:
        started = time.monotonic()
        summary, _ = await asyncio.gather(
            enrich(sessions, client, track_ids=[t.id for t in tracks]), other_work()
        )
        finished = time.monotonic()
    finally:
        ticking.cancel()

    assert summary.matched_isrc == 2
    assert finished - started >= 2.0  # Spotify really was slow
    assert other_done and other_done[0] - started < 1.0  # finished long before the enrichment
    during = [t for t in ticks if started <= t <= finished]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) > 100 and max(gaps) < 0.2  # the loop kept turning while spotipy waited in threads
