"""Thin task wrappers: build the right service from shared resources and call it. No business logic."""

from __future__ import annotations

from typing import Any

from taskiq import Context

from app.broker import broker, settings
from app.broker import runtime as process_runtime
from app.runtime import Runtime
from app.services.collection import CollectionService, PageStored
from app.services.enrichment import EnrichmentService
from app.services.enrichment_request import EnrichRequest
from app.services.progress import ReportProgress
from app.services.resources import Resources
from app.sources.beatport.targets import parse_target
from app.sources.spotify import SpotifyClient
from app.tasks.dependencies import ContextParam, ResourcesParam, RuntimeParam


@broker.task(task_name="collect_bp_tracks", timeout=settings.collection_task_timeout_seconds)
async def collect_bp_tracks_task(
    target: str,
    max_pages: int | None = None,
    run_id: str | None = None,
    resources: Resources = ResourcesParam,
    runtime: Runtime = RuntimeParam,
    context: Context = ContextParam,
) -> dict[str, Any]:
    """Collect one Beatport target (a canonical path, validated by the API) into the database. `run_id`: the
    run this task continues (a dead letter's retry passes the failed task's, so it resumes after the pages that
    run stored); by default the task's own id."""
    task_id = context.message.task_id
    service = collection_service(resources, runtime, task_id=task_id)
    summary = await service.collect(
        target=parse_target(target), run_id=run_id or task_id, max_pages=max_pages
    )
    return summary.as_dict()


def collection_service(
    resources: Resources,
    runtime: Runtime,
    *,
    task_id: str,
    progress: ReportProgress | None = None,
    on_page_stored: PageStored | None = None,
) -> CollectionService:
    """The collection service of one task: the process's fetcher, API client, budgets and challenge memory, the
    task's progress and cancellation (collections and watchlist runs build it alike)."""
    return CollectionService(
        sessions=resources.sessions,
        fetcher=resources.beatport_fetcher(),
        api=resources.beatport_api(),
        source=resources.settings.beatport_source,
        challenges=resources.challenge_memory,
        progress=progress or runtime.statuses.reporter(task_id),
        is_cancelled=runtime.statuses.cancel_check(task_id),
        on_page_stored=on_page_stored,
    )


def collection_identity(kwargs: dict[str, Any]) -> str:
    """Two collections of one target are one piece of work, however the target was spelled."""
    return parse_target(str(kwargs["target"])).identity(kwargs.get("max_pages"))


process_runtime.enqueuer.identities[collect_bp_tracks_task.task_name] = collection_identity


def enrichment_identity(kwargs: dict[str, Any]) -> str:
    """Enrichments of the whole catalogue (no track ids) go over the same tracks whatever their limit or force:
    one asked for while another is queued or running joins it. Track lists are the same work in any order."""
    track_ids = kwargs.get("track_ids")
    if track_ids is None:
        return "catalogue"
    return "tracks:" + ",".join(str(i) for i in sorted(set(track_ids)))


@broker.task(task_name="enrich_spotify_data", timeout=settings.enrichment_task_timeout_seconds)
async def enrich_spotify_data_task(
    track_ids: list[int] | None = None,
    only_missing: bool = True,
    limit: int | None = None,
    force: bool = False,
    after_id: int | None = None,
    resources: Resources = ResourcesParam,
    runtime: Runtime = RuntimeParam,
    context: Context = ContextParam,
) -> dict[str, Any]:
    """Match collected tracks on Spotify and store what is found. A quota stop (delayed) or the time budget
    (at once) re-enqueues the same request after the last track decided (`after_id`)."""
    task_id = context.message.task_id

    async def resume(request: EnrichRequest, *, delay_seconds: int) -> str:
        return await runtime.enqueuer.enqueue_follow_up(
            enrich_spotify_data_task,
            after=context.message,
            delay_seconds=delay_seconds,
            **request.as_kwargs(),
        )

    async with SpotifyClient.from_settings(resources.settings, limiter=resources.spotify_limiter) as client:
        service = EnrichmentService(
            sessions=resources.sessions,
            client=client,
            progress=runtime.statuses.reporter(task_id),
            is_cancelled=runtime.statuses.cancel_check(task_id),
            resume=resume,
            quota=resources.spotify_quota,
            task_timeout_seconds=resources.settings.enrichment_task_timeout_seconds,
        )
        summary = await service.enrich(
            track_ids=track_ids, only_missing=only_missing, limit=limit, force=force, after_id=after_id
        )
    return summary.as_dict()


process_runtime.enqueuer.identities[enrich_spotify_data_task.task_name] = enrichment_identity
