"""A watchlist run: collect each of its targets, note which stored tracks are new to the watchlist, and hand a
webhook delivery to its own task when some are.

Each target is an ordinary collection (`CollectionService`, the same fetcher, request budget, resume and
storage as `collect_bp_tracks`) run under the watchlist run's id; the service is handed a `PageStored` hook
that records first sightings in the page's own transaction. The run is one task, so its retries, time budget,
dead letter and duplicate rule (one active run per watchlist) are those of any task; a retried run resumes each
target after the pages it stored, and finds the first sightings its earlier attempt recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import watchlists
from app.db.base import utcnow
from app.errors import PermanentSourceError
from app.services.collection import CollectionService, PageStored
from app.services.progress import CancelCheck, ReportProgress, never_cancelled, no_progress
from app.sources.beatport.targets import parse_target

logger = logging.getLogger(__name__)

# Builds the collection service for one target: the page hook and that target's progress reporter.
CollectorFactory = Callable[[PageStored, ReportProgress], CollectionService]
# Enqueues the webhook delivery of a run's new tracks; returns the delivery task's id.
Notify = Callable[[int, str], Awaitable[str]]
# Starts the watchlist's playlist sync (its `sync` settings) after a run with new tracks; returns the first task's id.
StartSync = Callable[[int, dict[str, Any]], Awaitable[str]]


@dataclass
class WatchlistRunSummary:
    watchlist_id: int
    run_id: str
    new_tracks: int = 0
    targets: list[dict[str, Any]] = field(default_factory=list)  # each target's collection summary
    failed_targets: list[dict[str, str]] = field(default_factory=list)  # permanent failures: target, error
    cancelled: bool = False
    webhook_task_id: str | None = None
    sync_task_id: str | None = None  # the enrichment that leads the playlist sync (or the sync itself)
    skipped: str | None = None  # why nothing ran (the watchlist was deleted)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class WatchlistRunService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        collector: CollectorFactory,
        notify: Notify,
        start_sync: StartSync | None = None,
        progress: ReportProgress = no_progress,
        is_cancelled: CancelCheck = never_cancelled,
    ) -> None:
        self._sessions = sessions
        self._collector = collector
        self._notify = notify
        self._start_sync = start_sync
        self._progress = progress
        self._is_cancelled = is_cancelled

    async def run(self, *, watchlist_id: int, run_id: str) -> WatchlistRunSummary:
        summary = WatchlistRunSummary(watchlist_id=watchlist_id, run_id=run_id)
        async with self._sessions() as session:
            watchlist = await watchlists.get_watchlist(session, watchlist_id=watchlist_id)
        if watchlist is None:
            summary.skipped = f"watchlist {watchlist_id} no longer exists"
            return summary
        await self._collect_targets(summary, watchlist.targets, max_pages=watchlist.max_pages)
        async with self._sessions.begin() as session:
            summary.new_tracks = await watchlists.count_new_tracks(
                session, watchlist_id=watchlist_id, run_id=run_id
            )
            await watchlists.record_run(
                session, watchlist_id=watchlist_id, run_id=run_id, new_tracks=summary.new_tracks, at=utcnow()
            )
        # Tracks recorded as new are new once: a cancelled run still tells the webhook about those it found.
        if summary.new_tracks and watchlist.webhook_url:
            summary.webhook_task_id = await self._notify(watchlist_id, run_id)
        if summary.new_tracks and watchlist.sync is not None and self._start_sync is not None:
            summary.sync_task_id = await self._start_sync(watchlist_id, watchlist.sync)
        logger.info("watchlist %s run %s: %d new tracks", watchlist_id, run_id, summary.new_tracks)
        return summary

    async def _collect_targets(
        self, summary: WatchlistRunSummary, targets: list[str], *, max_pages: int | None
    ) -> None:
        """Collect each target in turn. A target that fails for good (a label that is gone) is reported and the
        others still run; transient failures propagate, so the task is retried and resumes."""

        async def first_seen(session: AsyncSession, *, track_ids: list[int]) -> None:
            await watchlists.record_first_seen(
                session,
                watchlist_id=summary.watchlist_id,
                track_ids=track_ids,
                run_id=summary.run_id,
                now=utcnow(),
            )

        for index, path in enumerate(targets):
            if await self._is_cancelled():
                summary.cancelled = True
                break
            collector = self._collector(first_seen, _target_progress(self._progress, index, len(targets)))
            try:
                collected = await collector.collect(
                    target=parse_target(path), run_id=summary.run_id, max_pages=max_pages
                )
            except PermanentSourceError as error:
                logger.warning("watchlist %s: %s failed: %s", summary.watchlist_id, path, error)
                summary.failed_targets.append({"target": path, "error": str(error)})
                continue
            summary.targets.append(collected.as_dict())
            if collected.cancelled:
                summary.cancelled = True
                break
        if targets and len(summary.failed_targets) == len(targets):
            raise PermanentSourceError(
                "every target of the watchlist failed: "
                + "; ".join(f"{failed['target']}: {failed['error']}" for failed in summary.failed_targets)
            )


def _target_progress(progress: ReportProgress, index: int, count: int) -> ReportProgress:
    """Progress in targets done, each page's message prefixed with which target it belongs to."""

    async def report(*, done: int, total: int | None, message: str) -> None:
        await progress(done=index, total=count, message=f"target {index + 1}/{count}: {message}")

    return report
