from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.api.access import WRITE
from app.api.deps import RuntimeDep, SettingsDep
from app.api.limits import check_max_pages
from app.api.schemas import CollectRequest, EnrichBody, TaskAccepted
from app.errors import InvalidTargetError
from app.tasks.collection_tasks import collect_bp_tracks_task, enrich_spotify_data_task

router = APIRouter(prefix="/collect", tags=["collection"])

DUPLICATE_NOTE = "An identical request is already queued or running: this is its task."
ENRICH_DUPLICATE_NOTE = (
    "An enrichment of the same tracks (the whole catalogue, or this track list) is already queued or running: "
    "this is its task, with its own limit and force."
)


def accepted(
    request: Request, response: Response, task_id: str, *, created: bool, note: str = DUPLICATE_NOTE
) -> TaskAccepted:
    """202 + Location for a new task; 200 with the existing task for a duplicate request."""
    status_url = str(request.url_for("task_status", task_id=task_id).path)
    response.headers["Location"] = status_url
    if not created:
        response.status_code = status.HTTP_200_OK
        return TaskAccepted(task_id=task_id, status_url=status_url, duplicate_of_active=True, note=note)
    return TaskAccepted(task_id=task_id, status_url=status_url)


@router.post(
    "/beatport/collect",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WRITE],
    responses={200: {"description": "An identical collection is already queued or running"}},
)
async def collect_beatport(
    body: CollectRequest, request: Request, response: Response, runtime: RuntimeDep, settings: SettingsDep
) -> TaskAccepted:
    """Collect a Beatport page (genre Top 100, Top 100, chart, release, track, label or artist tracks)."""
    try:
        target = body.target()
    except InvalidTargetError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    check_max_pages(body.max_pages, settings)
    task_id, created = await runtime.enqueuer.enqueue_once(
        collect_bp_tracks_task, target=target.path(), max_pages=body.max_pages
    )
    return accepted(request, response, task_id, created=created)


@router.post(
    "/spotify/enrich",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WRITE],
    responses={200: {"description": "An enrichment of the same tracks is already queued or running"}},
)
async def enrich_spotify(
    body: EnrichBody, request: Request, response: Response, settings: SettingsDep, runtime: RuntimeDep
) -> TaskAccepted:
    """Match collected tracks on Spotify (by ISRC, then by title and artist) and store what is found.

    One asked for while an enrichment of the same tracks (the whole catalogue, or the same track list) is queued
    or running joins it: 200 with that task."""
    missing = settings.missing_spotify_settings()
    if missing:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Spotify enrichment is not configured: set {' and '.join(missing)} "
            "(a Spotify app's client-credentials pair) and restart the api and worker.",
        )
    task_id, created = await runtime.enqueuer.enqueue_once(
        enrich_spotify_data_task,
        track_ids=body.track_ids,
        only_missing=body.only_missing,
        limit=body.limit,
        force=body.force,
    )
    return accepted(request, response, task_id, created=created, note=ENRICH_DUPLICATE_NOTE)
