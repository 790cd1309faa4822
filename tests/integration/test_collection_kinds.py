"""CollectionService with the real BeatportFetcher against FakeBeatport (loopback HTTP) and PostgreSQL.

Every target kind is collected and checked row by row against the fixture JSON; then re-runs, changed fields,
bot challenges, changed pages, 429 + Retry-After, slow pages, progress and a failure in the middle of a
paginated collection. One PostgreSQL database serves the module; every test starts from empty tables.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.base import Base
from app.db.models import Artist, ChartEntry, ChartSnapshot, Release, Track, TrackArtist
from app.db.session import create_engine, create_sessionmaker
from app.errors import PermanentSourceError, TransientSourceError
from app.services.collection import CollectionService, CollectionSummary
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.beatport.targets import parse_target
from app.sources.ratelimit import AsyncRateLimiter
from tests.conftest import fresh_pg_database
from tests.fakes.beatport import (
    ARTIST_TRACKS_PATH,
    CHART_PATH,
    LABEL_TRACKS_PATH,
    RELEASE_PATH,
    TRACK_PATH,
    FakeBeatport,
)
from tests.fakes.server import FakeResponse
from tests.fixtures.beatport import (
    ARTIST_TRACKS_HTML,
    CHALLENGE_HTML,
    CHANGED_HTML,
    CHART_HTML,
    GENRE_TOP100_PATH,
    LABEL_TRACKS_HTML,
    RELEASE_HTML,
    TOP100_HTML,
    TRACK_HTML,
    genre_top100_html,
    genre_top100_next_data,
    load_text,
    next_data_of,
    replace_next_data,
)

Sessions = async_sessionmaker[AsyncSession]
Raw = dict[str, Any]
TABLES = [t.name for t in Base.metadata.sorted_tables]


# ---- expected data, straight from the fixture pages --------------------------------------------------------


def page_tracks(html: str) -> list[Raw]:
    """The track objects of a page's tracks query (a query keyed *tracks* with a `results` list)."""
    data = next_data_of(html)
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        key = str(query["queryKey"][0])
        results = (query["state"]["data"] or {}).get("results")
        if "tracks" in key and isinstance(results, list):
            return list(results)
    track = data["props"]["pageProps"].get("track")
    if track is not None:
        return [track]
    raise AssertionError("no tracks in this fixture page")


def credits_of(raw: Raw) -> tuple[list[int], list[int]]:
    return [a["id"] for a in raw["artists"]], [a["id"] for a in raw.get("remixers") or []]


# ---- database, fake site, fetcher --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def fake_site() -> Iterator[FakeBeatport]:
    with FakeBeatport() as fake:
        yield fake


@pytest.fixture
def fake(fake_site: FakeBeatport) -> FakeBeatport:
    fake_site.reset()
    return fake_site


FetcherFactory = Callable[..., BeatportFetcher]


@pytest.fixture
async def make_fetcher(fake: FakeBeatport) -> AsyncIterator[FetcherFactory]:
    """The real fetcher (client built by BeatportFetcher.build_client from Settings) pointed at the fake."""
    clients: list[httpx.AsyncClient] = []

    def build(*, read_timeout: float = 5.0, attempts: int = 2, rate: float | None = None) -> BeatportFetcher:
        settings = Settings(
            _env_file=None,
            beatport_base_url=fake.url,
            beatport_read_timeout_seconds=read_timeout,
            beatport_connect_timeout_seconds=2.0,
        )
        client = BeatportFetcher.build_client(settings)
        clients.append(client)
        return BeatportFetcher(
            client=client,
            base_url=fake.url,
            limiter=AsyncRateLimiter(rate),
            max_response_bytes=settings.beatport_max_response_bytes,
            attempts=attempts,
            backoff_base_seconds=0.01,
        )

    yield build
    for client in clients:
        await client.aclose()


async def collect(
    sessions: Sessions,
    fetcher: BeatportFetcher,
    path: str,
    *,
    run_id: str = "run-1",
    max_pages: int | None = None,
    progress: Any = None,
) -> CollectionSummary:
    kwargs: dict[str, Any] = {"progress": progress} if progress is not None else {}
    service = CollectionService(sessions=sessions, fetcher=fetcher, **kwargs)
    return await service.collect(target=parse_target(path), run_id=run_id, max_pages=max_pages)


async def row_counts(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        return {
            name: int((await session.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one())
            for name in TABLES
        }


async def stored_credits(sessions: Sessions) -> dict[int, tuple[list[int], list[int]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(TrackArtist.track_id, TrackArtist.role, TrackArtist.artist_id).order_by(
                TrackArtist.track_id, TrackArtist.role, TrackArtist.position
            )
        )
        credits: dict[int, tuple[list[int], list[int]]] = {}
        for track_id, role, artist_id in rows:
            artists, remixers = credits.setdefault(track_id, ([], []))
            (remixers if role == "remixer" else artists).append(artist_id)
    return credits


async def chart(sessions: Sessions) -> list[tuple[str, str | None, list[int]]]:
    """Per snapshot (oldest first): chart key, title and the track ids by position 1..n."""
    async with sessions() as session:
        snapshots = (await session.execute(select(ChartSnapshot).order_by(ChartSnapshot.id))).scalars().all()
        result = []
        for snapshot in snapshots:
            entries = await session.execute(
                select(ChartEntry.position, ChartEntry.track_id)
                .where(ChartEntry.snapshot_id == snapshot.id)
                .order_by(ChartEntry.position)
            )
            pairs = list(entries)
            assert [p for p, _ in pairs] == list(range(1, len(pairs) + 1))
            result.append((snapshot.chart_key, snapshot.title, [t for _, t in pairs]))
    return result


async def assert_stored(sessions: Sessions, raws: list[Raw]) -> None:
    """Exactly these tracks, with their fields and credits in order."""
    async with sessions() as session:
        tracks = {t.id: t for t in (await session.execute(select(Track))).scalars()}
    assert sorted(tracks) == sorted({r["id"] for r in raws})
    credits = await stored_credits(sessions)
    for raw in raws:
        track = tracks[raw["id"]]
        assert track.name == raw["name"].strip() and track.bpm == raw["bpm"] and track.isrc == raw["isrc"]
        assert track.release_id == raw["release"]["id"]
        assert track.label_id == raw["release"]["label"]["id"]
        assert track.genre_id == raw["genre"]["id"]
        assert credits.get(raw["id"], ([], [])) == credits_of(raw), raw["id"]


# ---- every kind --------------------------------------------------------------------------------------------


async def test_genre_top100(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    summary = await collect(sessions, make_fetcher(), "/de/genre/whatever/11/top-100")
    raws = page_tracks(genre_top100_html())
    assert (summary.pages_fetched, summary.tracks_seen, summary.tracks_created) == (1, 100, 100)
    await assert_stored(sessions, raws)
    assert await chart(sessions) == [("genre-top-100-11", "Tech House", [r["id"] for r in raws])]
    counts = await row_counts(sessions)
    assert counts["tracks"] == 100 and counts["chart_entries"] == 100
    assert counts["track_artists"] == sum(len(r["artists"]) + len(r["remixers"] or []) for r in raws)
    assert counts["artists"] == len({a["id"] for r in raws for a in r["artists"] + (r["remixers"] or [])})
    assert counts["releases"] == len({r["release"]["id"] for r in raws})
    assert counts["labels"] == len({r["release"]["label"]["id"] for r in raws})
    assert counts["genres"] == 2 and counts["sub_genres"] == 1
    assert [r.path for r in fake.requests] == [GENRE_TOP100_PATH]
    assert fake.requests[0].headers["user-agent"].startswith("Mozilla/5.0 (compatible; Cratedigger")


async def test_overall_top100(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    fake.serve_top100()
    summary = await collect(sessions, make_fetcher(), "https://www.beatport.com/top-100")
    raws = page_tracks(load_text(TOP100_HTML))
    assert summary.tracks_created == 100
    await assert_stored(sessions, raws)
    snapshots = await chart(sessions)
    assert snapshots == [("top-100", "Beatport Top 100", [r["id"] for r in raws])]
    # Built as the genre chart reversed: position 1 here is position 100 there.
    assert snapshots[0][2][0] == page_tracks(genre_top100_html())[-1]["id"]


async def test_chart(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    fake.serve_chart()
    summary = await collect(sessions, make_fetcher(), CHART_PATH)
    raws = page_tracks(load_text(CHART_HTML))
    assert (summary.tracks_seen, summary.tracks_created) == (10, 10) and len(raws) == 10
    await assert_stored(sessions, raws)
    assert await chart(sessions) == [("chart-900123", "Tech House Heat", [r["id"] for r in raws])]


async def test_release(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    fake.serve_release()
    summary = await collect(sessions, make_fetcher(), RELEASE_PATH)
    raws = page_tracks(load_text(RELEASE_HTML))
    assert summary.tracks_created == 2 and {r["release"]["id"] for r in raws} == {7075608}
    await assert_stored(sessions, raws)
    assert await chart(sessions) == []  # a release is not a ranked list


async def test_track(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    fake.serve_track()
    summary = await collect(sessions, make_fetcher(), f"/fr{TRACK_PATH}")
    raws = page_tracks(load_text(TRACK_HTML))
    assert summary.tracks_created == 1 and raws[0]["id"] == 29386531
    await assert_stored(sessions, raws)
    async with sessions() as session:
        track = await session.get(Track, 29386531)
    assert track is not None
    assert (track.price_cents, track.price_currency, track.camelot, track.key_name) == (
        169,
        "USD",
        "3B",
        "Db Major",
    )
    assert (track.length_ms, track.catalog_number, track.is_explicit) == (348870, "BTPRT377723", True)


async def test_label_tracks_follow_pagination(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    """The 3-page fixture (count 6, per_page 2): three requests, six tracks, progress after each page."""
    fake.serve_label_tracks_fixture()
    seen: list[tuple[int, int | None, int, str]] = []

    async def progress(*, done: int, total: int | None, message: str) -> None:
        async with sessions() as session:  # what another connection sees: the page is committed already
            stored = int((await session.execute(select(func.count()).select_from(Track))).scalar_one())
        seen.append((done, total, stored, message))

    summary = await collect(sessions, make_fetcher(), LABEL_TRACKS_PATH, progress=progress)
    raws = [t for name in LABEL_TRACKS_HTML for t in page_tracks(load_text(name))]
    assert (summary.pages_fetched, summary.tracks_created) == (3, 6)
    await assert_stored(sessions, raws)
    assert [(d, t, s) for d, t, s, _ in seen] == [(1, 3, 2), (2, 3, 4), (3, 3, 6)]
    assert "page 2/3 stored" in seen[1][3] and "4 tracks so far" in seen[1][3]
    requests = fake.requests_to(LABEL_TRACKS_PATH)
    assert [r.query["page"] for r in requests] == [["1"], ["2"], ["3"]]
    assert all(r.query["per_page"] == ["150"] for r in requests)
    assert await chart(sessions) == []


@pytest.mark.parametrize(("max_pages", "pages", "tracks"), [(2, 2, 300), (None, 3, 350)])
async def test_label_tracks_stop_at_max_pages_or_the_last_page(
    sessions: Sessions,
    make_fetcher: FetcherFactory,
    fake: FakeBeatport,
    max_pages: int | None,
    pages: int,
    tracks: int,
) -> None:
    ids = fake.serve_label_tracks(777, pages=3, name="Three Pages")  # 150 + 150 + 50 tracks
    summary = await collect(sessions, make_fetcher(), "/label/_/777/tracks", max_pages=max_pages)
    assert (summary.pages_fetched, summary.tracks_created) == (pages, tracks)
    assert len(fake.requests_to("/label/_/777/tracks")) == pages
    async with sessions() as session:
        stored = sorted((await session.execute(select(Track.id))).scalars())
        labels = set((await session.execute(select(Track.label_id))).scalars())
    assert stored == sorted(ids[:tracks]) and labels == {777}


async def test_artist_tracks(sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport) -> None:
    fake.serve_artist_tracks_fixture()
    summary = await collect(sessions, make_fetcher(), ARTIST_TRACKS_PATH)
    raws = page_tracks(load_text(ARTIST_TRACKS_HTML))
    assert summary.tracks_created == 3
    await assert_stored(sessions, raws)
    credits = await stored_credits(sessions)
    assert all(298551 in artists for artists, _ in credits.values())

    # A generated two-page listing (150 + 50): the artist is credited first on every track.
    ids = fake.serve_artist_tracks(555, pages=2)
    summary = await collect(sessions, make_fetcher(), "/artist/_/555/tracks")
    assert (summary.pages_fetched, summary.tracks_seen) == (2, 200) and len(ids) == 200
    credits = await stored_credits(sessions)
    assert all(credits[track_id][0][0] == 555 for track_id in ids)


async def test_remixers_are_stored_in_order(sessions: Sessions, make_fetcher: FetcherFactory) -> None:
    await collect(sessions, make_fetcher(), GENRE_TOP100_PATH)
    raws = [r for r in page_tracks(genre_top100_html()) if r["remixers"]]
    assert raws, "the capture has a remixed track"
    credits = await stored_credits(sessions)
    for raw in raws:
        assert credits[raw["id"]][1] == [a["id"] for a in raw["remixers"]]


# ---- re-runs -----------------------------------------------------------------------------------------------


async def test_rerun_changes_no_counts_and_adds_one_snapshot(
    sessions: Sessions, make_fetcher: FetcherFactory
) -> None:
    first = await collect(sessions, make_fetcher(), GENRE_TOP100_PATH, run_id="run-1")
    before = await row_counts(sessions)
    again = await collect(sessions, make_fetcher(), GENRE_TOP100_PATH, run_id="run-2")
    after = await row_counts(sessions)
    assert (first.tracks_created, again.tracks_created, again.tracks_updated, again.tracks_unchanged) == (
        100,
        0,
        0,
        100,
    )
    assert after == {
        **before,
        "chart_snapshots": before["chart_snapshots"] + 1,
        "chart_entries": before["chart_entries"] + 100,
        "collection_pages": before["collection_pages"] + 1,  # run-2's record of its page
    }
    assert before["chart_snapshots"] == 1
    # The same run delivered again (a worker crashed after storing) fills its own snapshot, adds nothing.
    redelivered = await collect(sessions, make_fetcher(), GENRE_TOP100_PATH, run_id="run-2")
    assert redelivered.chart_snapshot_id == again.chart_snapshot_id
    assert await row_counts(sessions) == after


async def test_changed_fields_on_a_rerun_are_updated(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    await collect(sessions, make_fetcher(), GENRE_TOP100_PATH, run_id="run-1")
    async with sessions() as session:
        stamps = {
            t.id: (t.created_at, t.updated_at) for t in (await session.execute(select(Track))).scalars()
        }

    data = genre_top100_next_data()
    results = next(
        q["state"]["data"]["results"]
        for q in data["props"]["pageProps"]["dehydratedState"]["queries"]
        if str(q["queryKey"][0]).startswith("genre-11-top-100-tracks")
    )
    retimed, recredited = results[10], next(t for t in results if len(t["artists"]) >= 2)
    retimed["bpm"] += 3
    recredited["artists"] = list(reversed(copy.deepcopy(recredited["artists"])))
    fake.serve_genre_top100(replace_next_data(genre_top100_html(), data))

    summary = await collect(sessions, make_fetcher(), GENRE_TOP100_PATH, run_id="run-2")
    assert (summary.tracks_created, summary.tracks_updated, summary.tracks_unchanged) == (0, 2, 98)
    async with sessions() as session:
        tracks = {t.id: t for t in (await session.execute(select(Track))).scalars()}
    assert tracks[retimed["id"]].bpm == retimed["bpm"]
    assert (await stored_credits(sessions))[recredited["id"]][0] == [a["id"] for a in recredited["artists"]]
    for track_id, (created, updated) in stamps.items():
        assert tracks[track_id].created_at == created
        if track_id in (retimed["id"], recredited["id"]):
            assert tracks[track_id].updated_at > updated
        else:
            assert tracks[track_id].updated_at == updated


# ---- failures ----------------------------------------------------------------------------------------------


async def test_bot_challenge_status_is_a_transient_error_naming_the_url(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    fake.challenge(CHART_PATH)  # 403 + cf-mitigated: challenge, every time
    with pytest.raises(TransientSourceError) as caught:
        await collect(sessions, make_fetcher(attempts=2), CHART_PATH)
    assert str(caught.value) == f"Beatport served a bot challenge for {fake.url}{CHART_PATH}"
    assert len(fake.requests_to(CHART_PATH)) == 2  # retried once inside the fetch, then handed to the task
    assert (await row_counts(sessions))["tracks"] == 0


async def test_bot_challenge_page_body_is_recognised(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    fake.serve(CHART_PATH, FakeResponse.html(load_text(CHALLENGE_HTML)))  # HTTP 200, /human-test/ page
    with pytest.raises(TransientSourceError) as caught:
        await collect(sessions, make_fetcher(), CHART_PATH)
    assert str(caught.value) == f"Beatport served a bot challenge for {fake.url}{CHART_PATH}"


async def test_changed_page_is_a_permanent_error_naming_the_url(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    fake.serve_changed_page(CHART_PATH)
    with pytest.raises(PermanentSourceError) as caught:
        await collect(sessions, make_fetcher(), CHART_PATH)
    message = str(caught.value)
    assert f"{fake.url}{CHART_PATH}" in message and "no __NEXT_DATA__" in message
    assert len(fake.requests_to(CHART_PATH)) == 1  # never retried


async def test_429_with_retry_after_is_waited_out(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    fake.serve_chart()
    fake.rate_limited(CHART_PATH, retry_after=1)  # one 429 with Retry-After: 1, then the chart
    started = time.monotonic()
    summary = await collect(sessions, make_fetcher(), CHART_PATH)
    elapsed = time.monotonic() - started
    assert summary.tracks_created == 10
    assert elapsed >= 0.95, elapsed
    assert len(fake.requests_to(CHART_PATH)) == 2


async def test_slow_page_beyond_the_read_timeout_is_transient(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    fake.serve_chart()
    fake.slow(CHART_PATH, delay=2.0)
    started = time.monotonic()
    with pytest.raises(TransientSourceError) as caught:
        await collect(sessions, make_fetcher(read_timeout=0.3, attempts=2), CHART_PATH)
    elapsed = time.monotonic() - started
    assert str(caught.value) == f"Beatport did not answer in time for {fake.url}{CHART_PATH} (ReadTimeout)"
    assert 0.6 <= elapsed < 2.0, elapsed  # two attempts of 0.3 s, not the page's 2 s
    assert len(fake.requests_to(CHART_PATH)) == 2


async def test_changed_page_midway_keeps_page_one_and_no_half_page(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    pages = [load_text(name) for name in LABEL_TRACKS_HTML]
    fake.serve_paginated(LABEL_TRACKS_PATH, [pages[0], load_text(CHANGED_HTML), pages[2]])
    reported: list[int] = []

    async def progress(*, done: int, total: int | None, message: str) -> None:
        reported.append(done)

    with pytest.raises(PermanentSourceError) as caught:
        await collect(sessions, make_fetcher(), LABEL_TRACKS_PATH, progress=progress)
    assert f"{fake.url}{LABEL_TRACKS_PATH}?page=2&per_page=150" in str(caught.value)
    await assert_stored(sessions, page_tracks(pages[0]))
    assert reported == [1]
    assert len(fake.requests_to(LABEL_TRACKS_PATH)) == 2  # page 3 never asked for


async def test_store_failure_midway_rolls_back_the_whole_page(
    sessions: Sessions, make_fetcher: FetcherFactory, fake: FakeBeatport
) -> None:
    """Page 2's second track cannot be stored (name too long for the column) after its artists and releases
    were written in the same transaction: none of page 2 remains, page 1 does."""
    pages = [load_text(name) for name in LABEL_TRACKS_HTML]
    data = next_data_of(pages[1])
    query = next(
        q for q in data["props"]["pageProps"]["dehydratedState"]["queries"] if "tracks" in q["queryKey"][0]
    )
    page_two = query["state"]["data"]["results"]
    page_two[1]["name"] = "x" * 600
    fake.serve_paginated(LABEL_TRACKS_PATH, [pages[0], replace_next_data(pages[1], data), pages[2]])

    with pytest.raises(DBAPIError, match="too long"):
        await collect(sessions, make_fetcher(), LABEL_TRACKS_PATH)

    page_one = page_tracks(pages[0])
    await assert_stored(sessions, page_one)
    page_one_artists = {a for r in page_one for a in credits_of(r)[0] + credits_of(r)[1]}
    page_two_only_artists = {
        a for r in page_two for a in credits_of(r)[0] + credits_of(r)[1]
    } - page_one_artists
    page_two_releases = {r["release"]["id"] for r in page_two} - {r["release"]["id"] for r in page_one}
    assert page_two_only_artists and page_two_releases
    async with sessions() as session:
        artists = set((await session.execute(select(Artist.id))).scalars())
        releases = set((await session.execute(select(Release.id))).scalars())
    assert not artists & page_two_only_artists
    assert not releases & page_two_releases
    assert artists == page_one_artists


async def test_user_agent_and_extra_headers_come_from_settings() -> None:
    from app.config import Settings
    from app.sources.beatport.fetcher import BeatportFetcher
    from app.sources.ratelimit import AsyncRateLimiter
    from tests.fakes.beatport import FakeBeatport

    with FakeBeatport() as site:
        settings = Settings(
            _env_file=None,
            beatport_base_url=site.url,
            beatport_user_agent="crate-test/1.0",
            beatport_headers={"Accept-Language": "de-DE", "X-Contact": "dj@example.org"},
        )
        client = BeatportFetcher.build_client(settings)
        try:
            fetcher = BeatportFetcher.from_settings(settings, client=client, limiter=AsyncRateLimiter(None))
            await fetcher.fetch("/genre/tech-house/11/top-100")
        finally:
            await client.aclose()
        (request,) = site.requests_to("/genre/tech-house/11/top-100")
    assert request.headers["user-agent"] == "crate-test/1.0"
    assert request.headers["accept-language"] == "de-DE"
    assert request.headers["x-contact"] == "dj@example.org"
