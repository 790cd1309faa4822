"""A collection run delivered again (same run id: a retried task, or one whose worker died) resumes at the first
page it has not stored, and its summary covers the whole target.

CollectionService with the real BeatportFetcher against FakeBeatport (loopback HTTP), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import migrate
from app.config import Settings
from app.db.base import Base, utcnow
from app.db.collection_pages import StoredPage, record_stored_page
from app.db.models import ChartEntry, ChartSnapshot, CollectionPage, Track
from app.db.session import create_engine, create_sessionmaker
from app.errors import PermanentSourceError, TransientSourceError
from app.services.collection import STORED_PAGES_KEPT_FOR, CollectionService, CollectionSummary
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.beatport.targets import parse_target
from app.sources.ratelimit import AsyncRateLimiter
from tests.fakes.beatport import FakeBeatport
from tests.fixtures.beatport import GENRE_TOP100_PATH

Sessions = async_sessionmaker[AsyncSession]
LABEL = "/label/_/4242/tracks"
ARTIST = "/artist/_/5151/tracks"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh migrated database for each test, on each backend."""
    if request.param == "sqlite":
        sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'resume.db'}"
        migrate(sqlite_url)
        return sqlite_url
    pg_url: str = request.getfixturevalue("pg_database_url")
    return pg_url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as site:
        yield site


@pytest.fixture
async def fetcher(fake: FakeBeatport) -> AsyncIterator[BeatportFetcher]:
    """The real fetcher, one try per page: a failed page fails the attempt, as the task's retry would see it."""
    settings = Settings(_env_file=None, beatport_base_url=fake.url)
    async with BeatportFetcher.build_client(settings) as client:
        yield BeatportFetcher(
            client=client,
            base_url=fake.url,
            limiter=AsyncRateLimiter(None),
            max_response_bytes=settings.beatport_max_response_bytes,
            attempts=1,
        )


class Progress:
    def __init__(self) -> None:
        self.reports: list[tuple[int, int | None, str]] = []

    async def __call__(self, *, done: int, total: int | None, message: str) -> None:
        self.reports.append((done, total, message))


async def collect(
    sessions: Sessions, fetcher: BeatportFetcher, path: str, *, run_id: str, progress: Progress | None = None
) -> CollectionSummary:
    kwargs: dict[str, Any] = {"progress": progress} if progress is not None else {}
    service = CollectionService(sessions=sessions, fetcher=fetcher, **kwargs)
    return await service.collect(target=parse_target(path), run_id=run_id)


async def count(sessions: Sessions, model: type[Base]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def counts(summary: CollectionSummary) -> tuple[int, ...]:
    return (
        summary.pages_fetched,
        summary.tracks_seen,
        summary.tracks_created,
        summary.tracks_updated,
        summary.tracks_unchanged,
    )


@pytest.mark.parametrize(("status", "error"), [(500, TransientSourceError), (404, PermanentSourceError)])
async def test_a_second_attempt_resumes_at_the_page_the_first_did_not_store(
    sessions: Sessions,
    fetcher: BeatportFetcher,
    fake: FakeBeatport,
    status: int,
    error: type[Exception],
) -> None:
    ids = fake.serve_label_tracks(4242, pages=4)  # 150 + 150 + 150 + 50 tracks
    fake.interrupt_page(LABEL, 4, status=status)  # the first request for page 4 fails

    with pytest.raises(error):
        await collect(sessions, fetcher, LABEL, run_id="run-1")
    assert fake.pages_requested(LABEL) == [1, 2, 3, 4]
    assert await count(sessions, Track) == 450

    progress = Progress()
    summary = await collect(sessions, fetcher, LABEL, run_id="run-1", progress=progress)

    assert fake.pages_requested(LABEL) == [1, 2, 3, 4, 4]  # pages 1-3 were not asked for again
    assert counts(summary) == (4, 500, 500, 0, 0) and len(ids) == 500
    assert summary.pages_resumed == 3
    assert summary.sources == [f"page {n}: pages" for n in (1, 2, 3, 4)]
    assert progress.reports == [
        (3, 4, "tracks of label 4242: resuming at page 4: pages 1–3 were stored by an earlier attempt"),
        (4, 4, "tracks of label 4242: page 4/4 stored via pages, 500 tracks so far"),
    ]
    assert await count(sessions, Track) == 500


async def test_resumed_counts_add_the_earlier_attempts_pages_to_the_new_ones(
    sessions: Sessions, fetcher: BeatportFetcher, fake: FakeBeatport
) -> None:
    """Every track was stored by an earlier run, so both attempts of the second run count them unchanged:
    page 1 from its record, pages 2-3 fetched again; the sources read as an uninterrupted run's."""
    fake.serve_artist_tracks(5151, pages=3)
    uninterrupted = await collect(sessions, fetcher, ARTIST, run_id="first")
    fake.interrupt_page(ARTIST, 2, status=503)
    with pytest.raises(TransientSourceError):
        await collect(sessions, fetcher, ARTIST, run_id="second")
    resumed = await collect(sessions, fetcher, ARTIST, run_id="second")
    assert counts(uninterrupted) == (3, 350, 350, 0, 0)
    assert counts(resumed) == (3, 350, 0, 0, 350) and resumed.pages_resumed == 1
    assert resumed.sources == uninterrupted.sources
    assert fake.pages_requested(ARTIST) == [1, 2, 3, 1, 2, 2, 3]  # a new run id starts at page 1


@pytest.mark.parametrize("path", [LABEL, GENRE_TOP100_PATH])
async def test_a_run_delivered_again_after_its_last_page_requests_nothing(
    sessions: Sessions, fetcher: BeatportFetcher, fake: FakeBeatport, path: str
) -> None:
    """The worker died after storing the last page but before the result was saved: the redelivery reports
    the same counts (and the same chart snapshot) without asking the site again."""
    fake.serve_label_tracks(4242, pages=2)
    first = await collect(sessions, fetcher, path, run_id="run-1")
    requests = len(fake.requests)
    progress = Progress()
    again = await collect(sessions, fetcher, path, run_id="run-1", progress=progress)
    assert len(fake.requests) == requests
    assert {**again.as_dict(), "pages_resumed": 0} == first.as_dict()
    assert again.pages_resumed == first.pages_fetched
    ((done, total, message),) = progress.reports
    assert (done, total) == (first.pages_fetched, first.pages_fetched)
    assert message.endswith("stored by an earlier attempt; nothing left to collect"), message
    if path == GENRE_TOP100_PATH:
        assert again.chart_snapshot_id is not None and again.chart_snapshot_id == first.chart_snapshot_id
        assert (await count(sessions, ChartSnapshot), await count(sessions, ChartEntry)) == (1, 100)


async def test_old_page_records_are_dropped_when_a_collection_starts(
    sessions: Sessions, fetcher: BeatportFetcher
) -> None:
    page = StoredPage(
        page=1, served_by="pages", tracks_seen=0, tracks_created=0, tracks_updated=0, tracks_unchanged=0
    )
    now = utcnow()
    async with sessions.begin() as session:
        for run_id, age in (
            ("old", STORED_PAGES_KEPT_FOR + dt.timedelta(minutes=1)),
            ("recent", dt.timedelta()),
        ):
            await record_stored_page(session, run_id=run_id, target=LABEL, page=page, now=now - age)
    await collect(sessions, fetcher, GENRE_TOP100_PATH, run_id="another")
    async with sessions() as session:
        kept = set((await session.execute(select(CollectionPage.run_id))).scalars())
    assert kept == {"recent", "another"}


async def test_page_records_are_kept_per_target(
    sessions: Sessions, fetcher: BeatportFetcher, fake: FakeBeatport
) -> None:
    """One run id collecting two targets (as a run of several targets would) resumes each on its own."""
    fake.serve_label_tracks(4242, pages=2)
    fake.serve_artist_tracks(5151, pages=2)
    label = await collect(sessions, fetcher, LABEL, run_id="run")
    artist = await collect(sessions, fetcher, ARTIST, run_id="run")
    assert (label.pages_resumed, artist.pages_resumed) == (0, 0)
    assert fake.pages_requested(ARTIST) == [1, 2]
    assert counts(artist)[:2] == (2, 200)
