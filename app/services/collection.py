"""Collection: fetch Beatport pages for a target, parse them, store each page in one transaction.

Pages come from www.beatport.com (the page fetcher) or from the Beatport API v4, chosen by `source`:
`pages`, `api`, or `auto` (pages first; once a page is answered with a bot challenge, that page and the rest
of the run come from the API when an API client is configured, and a `ChallengeMemory` sends the next runs
straight to the API for a while). Both give the same `ParsedPage`, stored by the
same path, so a track is the same row whichever source served it. The summary's `sources` says, per page,
which source served it and why.

Each stored page is recorded with its counts in its own transaction (`app.db.collection_pages`). A run
delivered again under the same run id (a retried task, or one whose worker died) resumes at the first page it
has not stored, and its summary still covers the whole target.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import BeatportSource
from app.db.base import utcnow
from app.db.catalog import record_chart_entries, store_tracks
from app.db.collection_pages import StoredPage, forget_stored_pages, record_stored_page, stored_pages
from app.db.statistics import refresh_statistics
from app.errors import BotChallengeError, PermanentSourceError
from app.observability.metrics import CHALLENGES
from app.services.progress import CancelCheck, ReportProgress, never_cancelled, no_progress
from app.sources.beatport.api import BeatportApiClient
from app.sources.beatport.challenges import ChallengeMemory
from app.sources.beatport.entities import ParsedPage
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import PAGINATED_PER_PAGE, Target

logger = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 10
SWITCHED_TO_API = "page challenged; used the API"
# A run can be delivered again for a few hours at most (attempts × time budget + backoff); its page records
# are kept as long as task statuses, then dropped by the next collection that starts.
STORED_PAGES_KEPT_FOR = dt.timedelta(days=7)


class PageStored(Protocol):
    """Called in the transaction that stores a page, with the ids of its tracks (a watchlist records which are
    new to it, so the page and that record commit together)."""

    async def __call__(self, session: AsyncSession, *, track_ids: list[int]) -> None: ...


@dataclass
class CollectionSummary:
    target: str
    pages_fetched: int = 0  # pages of the target this run stored, earlier attempts of the run included
    pages_resumed: int = 0  # of those, pages an earlier attempt stored (not requested again)
    tracks_seen: int = 0
    tracks_created: int = 0
    tracks_updated: int = 0
    tracks_unchanged: int = 0
    chart_snapshot_id: int | None = None
    cancelled: bool = False
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Run:
    """What one run knows so far: its summary, the target's page count and page size, and its source."""

    target: Target
    run_id: str
    page_limit: int
    summary: CollectionSummary
    total_pages: int | None = None
    per_page: int | None = None  # the page size pages came in, so API page N holds the same tracks
    api_reason: str | None = None  # why the API serves the pages from now on; None while the site does

    @classmethod
    def start(cls, target: Target, *, run_id: str, max_pages: int | None) -> _Run:
        page_limit = (max_pages or DEFAULT_MAX_PAGES) if target.paginated else 1
        return cls(
            target=target,
            run_id=run_id,
            page_limit=page_limit,
            summary=CollectionSummary(target=target.path()),
            total_pages=None if target.paginated else page_limit,
        )

    def count(self, page: StoredPage) -> None:
        """Add a stored page (this attempt's or an earlier one's) to the summary; learn the page count."""
        summary = self.summary
        summary.pages_fetched += 1
        summary.tracks_seen += page.tracks_seen
        summary.tracks_created += page.tracks_created
        summary.tracks_updated += page.tracks_updated
        summary.tracks_unchanged += page.tracks_unchanged
        summary.sources.append(f"page {page.page}: {page.served_by}")
        if page.chart_snapshot_id is not None:
            summary.chart_snapshot_id = page.chart_snapshot_id
        self.per_page = self.per_page or page.per_page
        if self.target.paginated and page.total_count is not None:
            self.per_page = page.per_page or PAGINATED_PER_PAGE
            self.total_pages = min(self.page_limit, max(1, math.ceil(page.total_count / self.per_page)))

    def is_last(self, page: StoredPage) -> bool:
        """No page follows `page`: a one-page kind, an empty page, the last page, or `max_pages` reached."""
        last = min(self.page_limit, self.total_pages or self.page_limit)
        return not self.target.paginated or page.tracks_seen == 0 or page.page >= last


class CollectionService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        fetcher: BeatportFetcher,
        progress: ReportProgress = no_progress,
        is_cancelled: CancelCheck = never_cancelled,
        api: BeatportApiClient | None = None,
        source: BeatportSource = "pages",
        challenges: ChallengeMemory | None = None,
        on_page_stored: PageStored | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_page_stored = on_page_stored
        self._fetcher = fetcher
        self._api = api
        self._source = source
        self._challenges = challenges
        self._progress = progress
        self._is_cancelled = is_cancelled

    async def collect(
        self, *, target: Target, run_id: str, max_pages: int | None = None
    ) -> CollectionSummary:
        """Collect every page of `target` (up to `max_pages` for paginated kinds).

        `run_id` (the task id) names this run: a redelivered or retried task resumes after the pages it stored
        and fills the same chart snapshot. Pages already stored stay stored if a later page fails: each page
        is its own transaction.
        """
        run = _Run.start(target, run_id=run_id, max_pages=max_pages)
        run.api_reason = await self._initial_api_reason()
        page_number = await self._resume(run)
        while page_number is not None:
            if await self._is_cancelled():
                run.summary.cancelled = True
                break
            page = await self._collect_page(run, page_number)
            run.count(page)
            await self._report_page(run, page)
            page_number = None if run.is_last(page) else page_number + 1
        await refresh_statistics(self._sessions)  # after a large load, plans must see the new sizes
        logger.info("collected %s: %s", target.path(), run.summary)
        return run.summary

    async def _initial_api_reason(self) -> str | None:
        """Why the API serves this run's pages from the start; None to start with the site."""
        if self._source == "api":
            if self._api is None:
                raise PermanentSourceError(
                    "BEATPORT_SOURCE=api but the Beatport API is not configured: set BEATPORT_USERNAME and "
                    "BEATPORT_PASSWORD, or BEATPORT_API_TOKEN"
                )
            return "BEATPORT_SOURCE=api"
        if self._source == "auto" and self._api is not None and self._challenges is not None:
            recent = await self._challenges.recent()
            return recent.reason() if recent else None
        return None

    async def _resume(self, run: _Run) -> int | None:
        """Count the pages an earlier attempt of this run stored; the first page to fetch (None: all done)."""
        async with self._sessions.begin() as session:
            await forget_stored_pages(session, before=utcnow() - STORED_PAGES_KEPT_FOR)
            earlier = await stored_pages(session, run_id=run.run_id, target=run.target.path())
        resumed = _leading_pages(earlier, limit=run.page_limit)
        if not resumed:
            return 1
        for page in resumed:
            run.count(page)
        run.summary.pages_resumed = len(resumed)
        next_page = None if run.is_last(resumed[-1]) else len(resumed) + 1
        message = _resumed_message(run.target, pages=len(resumed), next_page=next_page)
        logger.info("run %s: %s", run.run_id, message)
        await self._progress(done=len(resumed), total=run.total_pages, message=message)
        return next_page

    async def _collect_page(self, run: _Run, page_number: int) -> StoredPage:
        """Fetch and store one page, and record it as stored by this run, all in one transaction."""
        parsed, served_by = await self._fetch(run, page_number)
        target = run.target
        async with self._sessions.begin() as session:
            counts = await store_tracks(session, tracks=parsed.tracks)
            if self._on_page_stored is not None:
                await self._on_page_stored(session, track_ids=[track.id for track in parsed.tracks])
            snapshot_id = None
            if target.chart_key and parsed.positions is not None:
                snapshot_id = await record_chart_entries(
                    session,
                    chart_key=target.chart_key,
                    title=parsed.title,
                    path=target.path(),
                    task_id=run.run_id,
                    entries=[(pos, t.id) for pos, t in zip(parsed.positions, parsed.tracks, strict=True)],
                )
            page = StoredPage(
                page=page_number,
                served_by=served_by,
                tracks_seen=len(parsed.tracks),
                tracks_created=counts.tracks.created,
                tracks_updated=counts.tracks.updated,
                tracks_unchanged=counts.tracks.unchanged,
                total_count=parsed.total_count,
                per_page=parsed.per_page,
                chart_snapshot_id=snapshot_id,
            )
            await record_stored_page(session, run_id=run.run_id, target=target.path(), page=page)
        return page

    async def _fetch(self, run: _Run, page_number: int) -> tuple[ParsedPage, str]:
        """One page from the source this run uses, and which source served it (and why)."""
        if run.api_reason is not None:
            return await self._fetch_api_page(run, page_number), f"api ({run.api_reason})"
        try:
            return await self._fetch_site_page(run.target, page_number), "pages"
        except BotChallengeError as error:
            CHALLENGES.labels(site="beatport").inc()
            if self._source != "auto":
                raise
            if self._api is None:
                raise BotChallengeError(
                    f"{error}. Set BEATPORT_USERNAME and BEATPORT_PASSWORD (or BEATPORT_API_TOKEN) to "
                    "collect through the Beatport API while pages are challenged",
                    retry_after=error.retry_after,
                ) from error
            logger.warning("%s; collecting the rest of %s through the Beatport API", error, run.target.path())
            if self._challenges is not None:
                await self._challenges.remember(url=run.target.path(page=page_number))
            parsed = await self._fetch_api_page(run, page_number)
            run.api_reason = f"pages challenged since page {page_number}"
            return parsed, f"api ({SWITCHED_TO_API})"

    async def _fetch_api_page(self, run: _Run, page_number: int) -> ParsedPage:
        assert self._api is not None  # a run only uses the API when one is configured
        return await self._api.fetch_page(run.target, page=page_number, per_page=run.per_page)

    async def _fetch_site_page(self, target: Target, page_number: int) -> ParsedPage:
        fetched = await self._fetcher.fetch(target.path(page=page_number))
        return parse_html(fetched.text, kind=target.kind, url=fetched.url, page=page_number)

    async def _report_page(self, run: _Run, page: StoredPage) -> None:
        total = run.total_pages
        await self._progress(
            done=run.summary.pages_fetched,
            total=total,
            message=(
                f"{run.target.describe()}: page {page.page}{f'/{total}' if total else ''} stored via "
                f"{page.served_by}, {run.summary.tracks_seen} tracks so far"
            ),
        )


def _leading_pages(pages: list[StoredPage], *, limit: int) -> list[StoredPage]:
    """Pages 1..n of `pages` (sorted by number), at most `limit`. A run stores its pages in order, so this is
    everything an earlier attempt stored; a gap would mean records of something else, and is not trusted."""
    leading: list[StoredPage] = []
    for page in pages[:limit]:
        if page.page != len(leading) + 1:
            break
        leading.append(page)
    return leading


def _resumed_message(target: Target, *, pages: int, next_page: int | None) -> str:
    stored = "page 1 was" if pages == 1 else f"pages 1–{pages} were"
    if next_page is None:
        return f"{target.describe()}: {stored} stored by an earlier attempt; nothing left to collect"
    return f"{target.describe()}: resuming at page {next_page}: {stored} stored by an earlier attempt"
