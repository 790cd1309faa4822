"""Collection: fetch Beatport pages for a target, parse them, store each page in one transaction.

Pages come from www.beatport.com (the page fetcher) or from the Beatport API v4, chosen by `source`:
`pages`, `api`, or `auto` (pages first; once a page is answered with a bot challenge, that page and the rest
of the run come from the API when an API client is configured, and a `ChallengeMemory` sends the next runs
straight to the API for a while). Both give the same `ParsedPage`, stored by the
same path, so a track is the same row whichever source served it. The summary's `sources` says, per page,
which source served it and why.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import BeatportSource
from app.db.catalog import record_chart_entries, store_tracks
from app.errors import BotChallengeError, PermanentSourceError
from app.services.progress import CancelCheck, ReportProgress, never_cancelled, no_progress
from app.sources.beatport.api import BeatportApiClient
from app.sources.beatport.challenges import ChallengeMemory
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.beatport.models import ParsedPage
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import PAGINATED_PER_PAGE, Target

logger = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 10
SWITCHED_TO_API = "page challenged; used the API"


@dataclass
class CollectionSummary:
    target: str
    pages_fetched: int = 0
    tracks_seen: int = 0
    tracks_created: int = 0
    tracks_updated: int = 0
    tracks_unchanged: int = 0
    chart_snapshot_id: int | None = None
    cancelled: bool = False
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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
    ) -> None:
        self._sessions = sessions
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

        `run_id` (the task id) names this run's chart snapshot, so a redelivered task fills the same one.
        Pages already stored stay stored if a later page fails: each page is its own transaction.
        """
        summary = CollectionSummary(target=target.path())
        if self._source == "api" and self._api is None:
            raise PermanentSourceError(
                "BEATPORT_SOURCE=api but the Beatport API is not configured: set BEATPORT_USERNAME and "
                "BEATPORT_PASSWORD, or BEATPORT_API_TOKEN"
            )
        # Why the API serves the pages from now on; None while pages are read from the site.
        api_reason: str | None = "BEATPORT_SOURCE=api" if self._source == "api" else None
        if self._source == "auto" and self._api is not None and self._challenges is not None:
            recent = await self._challenges.recent()
            api_reason = recent.reason() if recent else None
        per_page: int | None = None  # the page size pages came in, so API page N holds the same tracks
        page_limit = (max_pages or DEFAULT_MAX_PAGES) if target.paginated else 1
        total_pages: int | None = page_limit if not target.paginated else None
        page_number = 1
        while page_number <= page_limit:
            if await self._is_cancelled():
                summary.cancelled = True
                break
            if api_reason is None:
                try:
                    parsed = await self._fetch_site_page(target, page_number)
                    served_by = "pages"
                except BotChallengeError as error:
                    if self._source == "auto" and self._api is None:
                        raise BotChallengeError(
                            f"{error}. Set BEATPORT_USERNAME and BEATPORT_PASSWORD (or BEATPORT_API_TOKEN) to "
                            "collect through the Beatport API while pages are challenged",
                            retry_after=error.retry_after,
                        ) from error
                    if self._source != "auto" or self._api is None:
                        raise
                    logger.warning(
                        "%s; collecting the rest of %s through the Beatport API", error, target.path()
                    )
                    if self._challenges is not None:
                        await self._challenges.remember(url=target.path(page=page_number))
                    parsed = await self._api.fetch_page(target, page=page_number, per_page=per_page)
                    served_by = f"api ({SWITCHED_TO_API})"
                    api_reason = f"pages challenged since page {page_number}"
            else:
                assert self._api is not None
                parsed = await self._api.fetch_page(target, page=page_number, per_page=per_page)
                served_by = f"api ({api_reason})"
            per_page = per_page or parsed.per_page
            summary.sources.append(f"page {page_number}: {served_by}")
            async with self._sessions.begin() as session:
                counts = await store_tracks(session, tracks=parsed.tracks)
                if target.chart_key and parsed.positions is not None:
                    summary.chart_snapshot_id = await record_chart_entries(
                        session,
                        chart_key=target.chart_key,
                        title=parsed.title,
                        task_id=run_id,
                        entries=[(pos, t.id) for pos, t in zip(parsed.positions, parsed.tracks, strict=True)],
                    )
            summary.pages_fetched += 1
            summary.tracks_seen += len(parsed.tracks)
            summary.tracks_created += counts.tracks.created
            summary.tracks_updated += counts.tracks.updated
            summary.tracks_unchanged += counts.tracks.unchanged
            if target.paginated and parsed.total_count is not None:
                per_page = parsed.per_page or PAGINATED_PER_PAGE
                total_pages = min(page_limit, max(1, math.ceil(parsed.total_count / per_page)))
            await self._progress(
                done=summary.pages_fetched,
                total=total_pages,
                message=(
                    f"{target.describe()}: page {page_number}"
                    f"{f'/{total_pages}' if total_pages else ''} stored via {served_by}, "
                    f"{summary.tracks_seen} tracks so far"
                ),
            )
            if (
                not target.paginated
                or not parsed.tracks
                or (total_pages is not None and page_number >= total_pages)
            ):
                break
            page_number += 1
        logger.info("collected %s: %s", target.path(), summary)
        return summary

    async def _fetch_site_page(self, target: Target, page_number: int) -> ParsedPage:
        fetched = await self._fetcher.fetch(target.path(page=page_number))
        return parse_html(fetched.text, kind=target.kind, url=fetched.url, page=page_number)
