"""Watchlists (contract, second part: "Watchlists and feeds"): labels, artists, charts and genre Top 100s
followed on a cron, the tracks new to each, a run on request, and the feed token's reset. The feed itself is
app/api/feed_routes.py; the work is app/services/watchlists.py and app/services/watchlist_runs.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from app.api.access import READ, WRITE, ReadCaller
from app.api.collect_routes import accepted
from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.input_types import INT4_MAX, BodyText, BodyUrl, IsoDateTime
from app.api.limits import check_max_pages, check_schedule_limits
from app.api.playlist_routes import PlaylistName, SpotifyPlaylistId, check_sync_settings
from app.api.responses import error_responses
from app.api.schemas import TaskAccepted
from app.db import watchlists as repository
from app.db.api_keys import Scope
from app.db.models import Watchlist
from app.db.read_models import WatchlistTrackRead
from app.runtime import Runtime
from app.runtime.cron_schedules import (
    ScheduleError,
    next_run,
    validate_cron,
    validate_timezone,
    watchlist_schedule,
)
from app.sealed import box_for
from app.services import watchlists
from app.services.watchlists import SecretKeyMissing, WatchlistInputError
from app.tasks.watchlist_tasks import run_watchlist_task

router = APIRouter(prefix="/watchlists", tags=["watchlists"])

MAX_TARGETS = 20
MAX_TRACKS_PAGE = 500
WatchlistId = Annotated[int, Path(ge=1, le=INT4_MAX)]
RUN_DUPLICATE_NOTE = "A run of this watchlist is already queued or running: this is its task."


class WatchlistSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playlist_id: SpotifyPlaylistId | None = Field(
        None, description="a playlist of the connected account (default: a new private one, then that one)"
    )
    name: PlaylistName | None = Field(None, description="the name of a new playlist")
    public: StrictBool = Field(False, description="a new playlist is public; default private")


class WatchlistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: BodyText
    targets: Annotated[list[BodyUrl], Field(min_length=1, max_length=MAX_TARGETS)] = Field(
        description="Beatport URLs or paths: label or artist tracks, charts, genre Top 100s"
    )
    cron: BodyText = Field(
        description="when to run, e.g. '0 7 * * *' (SCHEDULE_MIN_INTERVAL_MINUTES applies)"
    )
    timezone: BodyText = "UTC"
    max_pages: Annotated[StrictInt | None, Field(ge=1, le=200)] = Field(
        None, description="pages per label/artist target (COLLECT_MAX_PAGES applies); default 10"
    )
    webhook_url: BodyUrl | None = Field(
        None, description="POSTed to after a run that found new tracks; public hosts only by default"
    )
    sync: WatchlistSync | None = Field(
        None,
        description="after a run that found new tracks: enrich them on Spotify, then mirror the watchlist (its "
        "new tracks, newest first) into a playlist of the connected account (POST /playlists/sync)",
    )


class WatchlistRunOut(BaseModel):
    task_id: str
    finished_at: dt.datetime
    new_tracks: int


class WatchlistOut(BaseModel):
    id: int
    name: str
    targets: list[str] = Field(description="canonical Beatport paths")
    cron: str
    timezone: str
    max_pages: int | None
    webhook_url: str | None
    sync: WatchlistSync | None
    webhook_secret: str | None = Field(
        description="signs each webhook body (HMAC-SHA256): in the 201 answer, and for admin keys in GET "
        "/watchlists/{id}; null otherwise or without a webhook"
    )
    feed_url: str | None = Field(
        description="the Atom feed with its token: given when the token is made (201, POST "
        "/watchlists/{id}/feed-token), null otherwise (only a hash of the token is kept)"
    )
    next_run_at: dt.datetime | None = Field(
        description="null in embedded mode (no scheduler: runs happen on POST /watchlists/{id}/run)"
    )
    last_run: WatchlistRunOut | None
    created_at: dt.datetime


class WatchlistTrackPage(BaseModel):
    items: list[WatchlistTrackRead]
    total: int = Field(description="tracks new to the watchlist since `since` (all of them without it)")
    limit: int
    offset: int


def _out(
    watchlist: Watchlist,
    *,
    request: Request,
    runtime: Runtime,
    feed_token: str | None = None,
    webhook_secret: str | None = None,
) -> WatchlistOut:
    feed_url = None
    if feed_token is not None:
        feed_url = str(
            request.url_for("watchlist_feed", watchlist_id=watchlist.id).include_query_params(
                token=feed_token
            )
        )
    next_run_at = None
    if runtime.schedules is not None:  # a scheduler runs only with REDIS_URL
        schedule = watchlist_schedule(
            watchlist_id=watchlist.id, name=watchlist.name, cron=watchlist.cron, timezone=watchlist.timezone
        )
        next_run_at = next_run(schedule)
    last_run = None
    if watchlist.last_run_id and watchlist.last_run_at:
        last_run = WatchlistRunOut(
            task_id=watchlist.last_run_id,
            finished_at=watchlist.last_run_at,
            new_tracks=watchlist.last_run_new_tracks or 0,
        )
    stored = {
        name: getattr(watchlist, name) for name in WatchlistOut.model_fields if hasattr(watchlist, name)
    }
    return WatchlistOut.model_validate(
        {
            **stored,
            "webhook_secret": webhook_secret,
            "feed_url": feed_url,
            "next_run_at": next_run_at,
            "last_run": last_run,
        }
    )


def _not_found(watchlist_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No watchlist with id {watchlist_id}.")


def _unprocessable(error: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WRITE])
async def create_watchlist(
    body: WatchlistRequest,
    request: Request,
    response: Response,
    resources: ResourcesDep,
    runtime: RuntimeDep,
    session: SessionDep,
) -> WatchlistOut:
    """Follow Beatport labels, artists, charts and genre Top 100s on a cron. The answer holds the feed URL and
    the webhook secret: keep them (the feed URL is not shown again; the secret only to admin keys)."""
    settings = resources.settings
    try:
        targets = watchlists.watched_targets(body.targets)
        cron = validate_cron(body.cron)
        validate_timezone(body.timezone)
        webhook_url = body.webhook_url
        if webhook_url is not None:
            webhook_url = await watchlists.checked_webhook_url(
                webhook_url, allow_private=settings.webhook_allow_private
            )
    except (WatchlistInputError, ScheduleError) as error:
        raise _unprocessable(error) from error
    check_max_pages(body.max_pages, settings)
    if body.sync is not None:
        check_sync_settings(settings)
    await check_schedule_limits(
        cron=cron,
        timezone=body.timezone,
        store=runtime.schedules,
        settings=settings,
        watchlists=await repository.count_watchlists(session),
    )
    try:
        created = await watchlists.create_watchlist(
            sessions=resources.sessions,
            store=runtime.schedules,
            box=box_for(settings.secret_key),
            name=body.name,
            targets=targets,
            max_pages=body.max_pages,
            cron=cron,
            timezone=body.timezone,
            webhook_url=webhook_url,
            sync=body.sync.model_dump() if body.sync is not None else None,
        )
    except SecretKeyMissing as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from error
    response.headers["Location"] = f"/watchlists/{created.watchlist.id}"
    return _out(
        created.watchlist,
        request=request,
        runtime=runtime,
        feed_token=created.feed_token,
        webhook_secret=created.webhook_secret,
    )


@router.get("", dependencies=[READ])
async def list_watchlists(request: Request, runtime: RuntimeDep, session: SessionDep) -> list[WatchlistOut]:
    """Every watchlist (without feed URLs or webhook secrets)."""
    found = await repository.list_watchlists(session)
    return [_out(watchlist, request=request, runtime=runtime) for watchlist in found]


@router.get("/{watchlist_id}", responses=error_responses(404))
async def get_watchlist(
    watchlist_id: WatchlistId,
    caller: ReadCaller,
    request: Request,
    runtime: RuntimeDep,
    resources: ResourcesDep,
    session: SessionDep,
) -> WatchlistOut:
    """One watchlist; with an admin key, its webhook secret too."""
    watchlist = await repository.get_watchlist(session, watchlist_id=watchlist_id)
    if watchlist is None:
        raise _not_found(watchlist_id)
    secret = None
    if caller.scope >= Scope.admin:
        secret = watchlists.webhook_secret_of(watchlist, box_for(resources.settings.secret_key))
    return _out(watchlist, request=request, runtime=runtime, webhook_secret=secret)


@router.delete(
    "/{watchlist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    dependencies=[WRITE],
)
async def delete_watchlist(
    watchlist_id: WatchlistId, resources: ResourcesDep, runtime: RuntimeDep
) -> Response:
    """Stop following: the watchlist, its schedule, its record of new tracks and its feed go (the tracks stay)."""
    if not await watchlists.delete_watchlist(
        sessions=resources.sessions, store=runtime.schedules, watchlist_id=watchlist_id
    ):
        raise _not_found(watchlist_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{watchlist_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WRITE],
    responses={
        200: {"description": "A run of this watchlist is already queued or running"},
        **error_responses(404),
    },
)
async def run_watchlist(
    watchlist_id: WatchlistId, request: Request, response: Response, runtime: RuntimeDep, session: SessionDep
) -> TaskAccepted:
    """Run the watchlist now: a task that collects its targets and records the tracks new to it."""
    if await repository.get_watchlist(session, watchlist_id=watchlist_id) is None:
        raise _not_found(watchlist_id)
    task_id, created = await runtime.enqueuer.enqueue_once(run_watchlist_task, watchlist_id=watchlist_id)
    return accepted(request, response, task_id, created=created, note=RUN_DUPLICATE_NOTE)


@router.post("/{watchlist_id}/feed-token", responses=error_responses(404), dependencies=[WRITE])
async def reset_feed_token(
    watchlist_id: WatchlistId, request: Request, runtime: RuntimeDep, resources: ResourcesDep
) -> WatchlistOut:
    """A new feed token: the answer's `feed_url` works from now on, the old one no longer does."""
    token = await watchlists.reset_feed_token(sessions=resources.sessions, watchlist_id=watchlist_id)
    if token is None:
        raise _not_found(watchlist_id)
    async with resources.sessions() as session:
        watchlist = await repository.get_watchlist(session, watchlist_id=watchlist_id)
    if watchlist is None:  # deleted in between
        raise _not_found(watchlist_id)
    return _out(watchlist, request=request, runtime=runtime, feed_token=token)


@router.get("/{watchlist_id}/tracks", responses=error_responses(404), dependencies=[READ])
async def watchlist_tracks(
    watchlist_id: WatchlistId,
    session: SessionDep,
    since: Annotated[
        IsoDateTime | None,
        Query(description="only tracks first seen at or after this time (ISO 8601; no offset: UTC)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACKS_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> WatchlistTrackPage:
    """Tracks new to the watchlist (first stored by one of its runs), newest first, with the usual track fields
    and when and by which run each was first seen."""
    if await repository.get_watchlist(session, watchlist_id=watchlist_id) is None:
        raise _not_found(watchlist_id)
    items = await repository.new_tracks(
        session, watchlist_id=watchlist_id, since=since, limit=limit, offset=offset
    )
    total = await repository.count_new_tracks(session, watchlist_id=watchlist_id, since=since)
    return WatchlistTrackPage(items=items, total=total, limit=limit, offset=offset)
