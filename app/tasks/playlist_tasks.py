"""Thin task wrapper of the playlist sync: build the service from shared resources and call it."""

from __future__ import annotations

from typing import Any

from taskiq import Context

from app.broker import broker, settings
from app.broker import runtime as process_runtime
from app.runtime import Runtime
from app.services.playlist_sources import PlaylistSource
from app.services.playlist_sync import PlaylistSyncService
from app.services.resources import Resources
from app.tasks.dependencies import ContextParam, ResourcesParam, RuntimeParam


@broker.task(task_name="sync_spotify_playlist", timeout=settings.playlist_sync_task_timeout_seconds)
async def sync_spotify_playlist_task(
    source: dict[str, Any],
    playlist_id: str | None = None,
    name: str | None = None,
    public: bool = False,
    resources: Resources = ResourcesParam,
    runtime: Runtime = RuntimeParam,
    context: Context = ContextParam,
) -> dict[str, Any]:
    """Make a playlist of the connected Spotify account hold exactly the source's matched tracks, in order. A
    quota stop re-enqueues the same sync for when Spotify allows requests again."""
    task_id = context.message.task_id

    async def resume(*, delay_seconds: int) -> str:
        return await runtime.enqueuer.enqueue_follow_up(
            sync_spotify_playlist_task,
            after=context.message,
            delay_seconds=delay_seconds,
            source=source,
            playlist_id=playlist_id,
            name=name,
            public=public,
        )

    accounts = resources.spotify_accounts()
    client = accounts.user_client()
    try:
        service = PlaylistSyncService(
            sessions=resources.sessions,
            accounts=accounts,
            client=client,
            progress=runtime.statuses.reporter(task_id),
            is_cancelled=runtime.statuses.cancel_check(task_id),
            quota=resources.spotify_quota,
            resume=resume,
        )
        summary = await service.sync(source=source, playlist_id=playlist_id, name=name, public=public)
    finally:
        client.close()
    return summary.as_dict()


def playlist_sync_identity(kwargs: dict[str, Any]) -> str:
    """One sync of a source into one playlist at a time (the remembered playlist, when none is named)."""
    source = PlaylistSource.of(dict(kwargs["source"]))
    return f"{source.key}|{kwargs.get('playlist_id') or 'remembered'}"


process_runtime.enqueuer.identities[sync_spotify_playlist_task.task_name] = playlist_sync_identity
