"""Thin task wrappers of watchlists: a run (scheduled by the one scheduler, or asked for through the API) and the
webhook delivery a run with new tracks enqueues."""

from __future__ import annotations

from typing import Any

from taskiq import Context

from app.broker import broker, settings
from app.runtime import Runtime
from app.runtime.chains import ChainStep
from app.runtime.cron_schedules import (
    ENRICH_TASK,
    SYNC_TASK,
    WATCHLIST_TASK,
    enrich_kwargs,
    watchlist_schedule_id,
)
from app.sealed import box_for
from app.services.collection import CollectionService, PageStored
from app.services.progress import ReportProgress
from app.services.resources import Resources
from app.services.watchlist_runs import WatchlistRunService
from app.services.webhook_delivery import WebhookDelivery
from app.sources.webhook import WebhookSender
from app.tasks.collection_tasks import collection_service
from app.tasks.dependencies import ContextParam, ResourcesParam, RuntimeParam
from app.tasks.playlist_tasks import sync_spotify_playlist_task

WEBHOOK_TASK = "deliver_watchlist_webhook"
WEBHOOK_TASK_TIMEOUT_SECONDS = 60  # a resolve (≤ 5 s) and one POST (≤ 10 s), with room to spare


@broker.task(task_name=WATCHLIST_TASK, timeout=settings.collection_task_timeout_seconds)
async def run_watchlist_task(
    watchlist_id: int,
    resources: Resources = ResourcesParam,
    runtime: Runtime = RuntimeParam,
    context: Context = ContextParam,
) -> dict[str, Any]:
    """Collect the watchlist's targets; record the tracks new to it; enqueue its webhook when some are."""
    task_id = context.message.task_id

    def collector(on_page_stored: PageStored, progress: ReportProgress) -> CollectionService:
        return collection_service(
            resources, runtime, task_id=task_id, progress=progress, on_page_stored=on_page_stored
        )

    async def notify(watchlist_id: int, run_id: str) -> str:
        delivery_id, _ = await runtime.enqueuer.enqueue_once(
            deliver_watchlist_webhook_task, watchlist_id=watchlist_id, run_id=run_id
        )
        return delivery_id

    async def start_sync(watchlist_id: int, sync: dict[str, Any]) -> str:
        return await start_watchlist_sync(resources, runtime, watchlist_id=watchlist_id, sync=sync)

    service = WatchlistRunService(
        sessions=resources.sessions,
        collector=collector,
        notify=notify,
        start_sync=start_sync,
        progress=runtime.statuses.reporter(task_id),
        is_cancelled=runtime.statuses.cancel_check(task_id),
    )
    summary = await service.run(watchlist_id=watchlist_id, run_id=task_id)
    if summary.skipped is not None and runtime.schedules is not None:
        # The watchlist was deleted but its schedule outlived it (Redis was away at the time): drop it now.
        await runtime.schedules.remove(watchlist_schedule_id(watchlist_id))
    return summary.as_dict()


async def start_watchlist_sync(
    resources: Resources, runtime: Runtime, *, watchlist_id: int, sync: dict[str, Any]
) -> str:
    """Enrich what is missing on Spotify, then mirror the watchlist: a chain like a schedule's (each step once the
    one before succeeded; the scheduler advances chains). Without Redis there are no chains: the sync alone."""
    arguments = {
        "source": {"watchlist_id": watchlist_id},
        "playlist_id": sync.get("playlist_id"),
        "name": sync.get("name"),
        **({"public": True} if sync.get("public") else {}),
    }
    steps = [ChainStep(task_name=SYNC_TASK, arguments=arguments)]
    if not resources.settings.missing_spotify_settings():
        enrich = enrich_kwargs(track_ids=None, only_missing=True, limit=None, force=False)
        steps.insert(0, ChainStep(task_name=ENRICH_TASK, arguments=enrich))
    if runtime.chains is not None:
        task_id, _ = await runtime.chains.start(steps)
        return task_id
    task_id, _ = await runtime.enqueuer.enqueue_once(sync_spotify_playlist_task, **arguments)
    return task_id


@broker.task(task_name=WEBHOOK_TASK, timeout=WEBHOOK_TASK_TIMEOUT_SECONDS)
async def deliver_watchlist_webhook_task(
    watchlist_id: int,
    run_id: str,
    resources: Resources = ResourcesParam,
) -> dict[str, Any]:
    """POST the run's new tracks, signed, to the watchlist's webhook (public addresses only, unless allowed)."""
    delivery = WebhookDelivery(
        sessions=resources.sessions,
        sender=WebhookSender(
            client=resources.webhook_http, allow_private=resources.settings.webhook_allow_private
        ),
        box=box_for(resources.settings.secret_key),
    )
    result = await delivery.deliver(watchlist_id=watchlist_id, run_id=run_id)
    return result.as_dict()
