"""Watchlists: list with next and last runs, create (the API's target, cron and webhook checks, so refusals read
as the API's), a watchlist's new tracks, run now (then the task page follows it), a new feed URL, delete.

The feed URL and the webhook secret are shown once, on the page that answers their making: only a hash of the
feed token is kept, and the secret is for the creator (and admin keys) only, as in the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.access import Caller
from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.input_types import INT4_MAX
from app.api.watchlist_routes import (
    WatchlistOut,
    WatchlistRequest,
    create_watchlist,
    delete_watchlist,
    get_watchlist,
    list_watchlists,
    reset_feed_token,
    run_watchlist,
    watchlist_tracks,
)
from app.db.api_keys import Scope
from app.web.access import PAGE, SignedIn, acting, form_fields
from app.web.forms import filled, refusal
from app.web.session import DashboardSession
from app.web.templating import page

router = APIRouter(include_in_schema=False)

WatchlistSession = Annotated[DashboardSession, acting(Scope.write, "changing watchlists")]
WatchlistId = Annotated[int, Path(ge=1, le=INT4_MAX)]
FORM_FIELDS = ("name", "targets", "cron", "timezone", "max_pages", "webhook_url")
TRACKS_SHOWN = 100


def _request_body(fields: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body: one target per line of the text area."""
    body = filled(fields, ("name", "cron", "timezone", "max_pages", "webhook_url"), numbers=["max_pages"])
    body["targets"] = [line.strip() for line in fields.get("targets", "").splitlines() if line.strip()]
    return body


async def _list_page(
    request: Request,
    runtime: RuntimeDep,
    database: SessionDep,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    made: WatchlistOut | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "watchlists.html",
        status_code=status_code,
        title="Watchlists",
        watchlists=await list_watchlists(request, runtime, database),
        values=values or {"timezone": "UTC", "cron": "0 7 * * *"},
        error=error,
        made=made,
        scheduled=runtime.schedules is not None,
    )


@router.get("/ui/watchlists", dependencies=[PAGE])
async def watchlists_page(request: Request, runtime: RuntimeDep, database: SessionDep) -> Response:
    return await _list_page(request, runtime, database)


@router.post("/ui/watchlists")
async def add_watchlist(
    request: Request,
    session: WatchlistSession,
    runtime: RuntimeDep,
    resources: ResourcesDep,
    database: SessionDep,
) -> Response:
    fields = await form_fields(request)
    values = {name: fields.get(name, "") for name in FORM_FIELDS}
    try:
        body = WatchlistRequest.model_validate(_request_body(fields))
        made = await create_watchlist(body, request, Response(), resources, runtime, database)
    except (ValidationError, HTTPException) as error:
        status_code = error.status_code if isinstance(error, HTTPException) else 422
        return await _list_page(
            request, runtime, database, values=values, error=refusal(error), status_code=status_code
        )
    return await _list_page(request, runtime, database, made=made, status_code=201)


async def _detail_page(
    request: Request,
    watchlist_id: int,
    session: DashboardSession,
    runtime: RuntimeDep,
    resources: ResourcesDep,
    database: SessionDep,
    *,
    new_feed_url: str | None = None,
) -> Response:
    caller = Caller(session.name, session.scope)
    try:
        watchlist = await get_watchlist(watchlist_id, caller, request, runtime, resources, database)
    except HTTPException as error:  # the API's words ("No watchlist with id …"), not only "no such page"
        return page(
            request, "error.html", status_code=error.status_code, title="Not found", message=refusal(error)
        )
    tracks = await watchlist_tracks(watchlist_id, database, since=None, limit=TRACKS_SHOWN, offset=0)
    return page(
        request,
        "watchlist.html",
        title=watchlist.name,
        watchlist=watchlist,
        tracks=tracks,
        new_feed_url=new_feed_url,
        can_change=session.scope >= Scope.write,
    )


@router.get("/ui/watchlists/{watchlist_id}")
async def watchlist_page(
    request: Request,
    watchlist_id: WatchlistId,
    session: SignedIn,
    runtime: RuntimeDep,
    resources: ResourcesDep,
    database: SessionDep,
) -> Response:
    return await _detail_page(request, watchlist_id, session, runtime, resources, database)


@router.post("/ui/watchlists/{watchlist_id}/run")
async def run_now(
    request: Request,
    watchlist_id: WatchlistId,
    session: WatchlistSession,
    runtime: RuntimeDep,
    database: SessionDep,
) -> Response:
    accepted = await run_watchlist(watchlist_id, request, Response(), runtime, database)
    location = f"/ui/tasks/{accepted.task_id}" + ("?duplicate=1" if accepted.duplicate_of_active else "")
    return RedirectResponse(location, status_code=303)


@router.post("/ui/watchlists/{watchlist_id}/feed-token")
async def new_feed_token(
    request: Request,
    watchlist_id: WatchlistId,
    session: WatchlistSession,
    runtime: RuntimeDep,
    resources: ResourcesDep,
    database: SessionDep,
) -> Response:
    made = await reset_feed_token(watchlist_id, request, runtime, resources)
    return await _detail_page(
        request, watchlist_id, session, runtime, resources, database, new_feed_url=made.feed_url
    )


@router.post("/ui/watchlists/{watchlist_id}/delete")
async def remove_watchlist(
    watchlist_id: WatchlistId, session: WatchlistSession, runtime: RuntimeDep, resources: ResourcesDep
) -> Response:
    await delete_watchlist(watchlist_id, resources, runtime)
    return RedirectResponse("/ui/watchlists", status_code=303)
