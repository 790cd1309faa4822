"""The user's Spotify account and playlist syncs from the dashboard: the account's state, connecting it
(admin), forgetting it (admin), and mirroring a chart into a playlist (write), through the services and the
API's own sync route, so the pages refuse what the API refuses, in its words."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.access import current_key
from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.playlist_routes import PlaylistSyncRequest, sync_playlist
from app.db.api_keys import Scope
from app.services.spotify_account import SpotifyAccountNotConfigured, missing_account_settings
from app.web.access import SignedIn, acting, form_fields
from app.web.chart_pages import ChartKey, render_chart
from app.web.forms import refusal
from app.web.session import DashboardSession
from app.web.templating import page

router = APIRouter(include_in_schema=False)

AccountAdmin = Annotated[DashboardSession, acting(Scope.admin, "connecting or forgetting Spotify")]
SyncSession = Annotated[DashboardSession, acting(Scope.write, "mirroring a chart into Spotify")]


async def _account_page(
    request: Request, session: DashboardSession, resources: ResourcesDep, *, problem: str | None = None
) -> Response:
    missing = missing_account_settings(resources.settings)
    account = None if missing else await resources.spotify_accounts().status()
    return page(
        request,
        "spotify.html",
        status_code=409 if problem else 200,
        title="Spotify",
        missing=missing,
        account=account,
        can_connect=session.scope >= Scope.admin,
        problem=problem,
    )


@router.get("/ui/spotify")
async def spotify_page(request: Request, session: SignedIn, resources: ResourcesDep) -> Response:
    return await _account_page(request, session, resources)


@router.post("/ui/spotify/connect")
async def connect(request: Request, session: AccountAdmin, resources: ResourcesDep) -> Response:
    """To Spotify's approval page, with a one-time state bound to this session's key (as `/auth/spotify/login`)."""
    key = await current_key(resources, session.name)
    if key is None:
        return await _account_page(
            request, session, resources, problem="Your key was revoked: sign in again."
        )
    try:
        url = await resources.spotify_accounts().start(caller_name=session.name, caller_key_hash=key[0])
    except SpotifyAccountNotConfigured as error:
        return await _account_page(request, session, resources, problem=str(error))
    return RedirectResponse(url, status_code=303)


@router.post("/ui/spotify/disconnect")
async def disconnect(request: Request, session: AccountAdmin, resources: ResourcesDep) -> Response:
    await resources.spotify_accounts().forget()
    return RedirectResponse("/ui/spotify", status_code=303)


@router.post("/ui/charts/{chart_key}/sync")
async def sync_chart(
    request: Request,
    chart_key: ChartKey,
    session: SyncSession,
    resources: ResourcesDep,
    runtime: RuntimeDep,
    database: SessionDep,
) -> Response:
    """Mirror the chart's latest snapshot into a playlist; the task's page follows it."""
    fields = await form_fields(request)
    name = fields.get("name", "").strip() or None
    try:
        body = PlaylistSyncRequest.model_validate(
            {"source": {"chart_key": chart_key}, "name": name, "public": fields.get("public") == "on"}
        )
        accepted = await sync_playlist(body, request, Response(), resources, runtime)
    except (HTTPException, ValidationError) as error:
        return await render_chart(request, chart_key, database, sync_problem=refusal(error))
    location = f"/ui/tasks/{accepted.task_id}" + ("?duplicate=1" if accepted.duplicate_of_active else "")
    return RedirectResponse(location, status_code=303)
