"""Tracks: the `/tracks` filters as a form (sortable, paged), a CSV of the same query, one track with its chart
history and Spotify match, and the manual match form. Listing and CSV run the API's own route functions, so
both answer exactly as `GET /tracks` does for the same parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.deps import ResourcesDep, SessionDep
from app.api.match_routes import ManualMatchBody, decide_match
from app.api.track_routes import tracks
from app.db.api_keys import Scope
from app.db.read_models import TrackPage
from app.db.track_filters import MAX_ID
from app.db.track_queries import get_track
from app.services.manual_match import ManualMatchService, TrackNotFoundError
from app.web.access import PAGE, acting, form_fields
from app.web.forms import refusal
from app.web.positions import position_line
from app.web.session import DashboardSession
from app.web.templating import page
from app.web.track_query import PAGE_SIZES, TrackForm

router = APIRouter(include_in_schema=False)

TrackId = Annotated[int, Path(ge=1, le=MAX_ID)]
MatchSession = Annotated[DashboardSession, acting(Scope.write, "changing a Spotify match")]


async def track_list(
    form: TrackForm, database: SessionDep, resources: ResourcesDep
) -> tuple[TrackPage | None, list[str]]:
    if form.query is None:
        return None, form.errors
    try:
        listed = await tracks(form.query, database, resources)
    except RequestValidationError as error:
        return None, [refusal(error)]
    assert isinstance(listed, TrackPage)
    return listed, []


async def track_list_response(
    request: Request, form: TrackForm, database: SessionDep, resources: ResourcesDep, **context: Any
) -> Response:
    """A page of tracks for the form's query: `tracks.html`, or the `template` that `context` names."""
    listed, errors = await track_list(form, database, resources)
    shown = {"template": "tracks.html", "title": "Tracks", "action": "/ui/tracks", **context}
    return page(
        request,
        shown.pop("template"),
        status_code=422 if errors else 200,
        form=form,
        listed=listed,
        errors=errors,
        page_sizes=PAGE_SIZES,
        **shown,
    )


@router.get("/ui/tracks", dependencies=[PAGE])
async def track_list_page(request: Request, database: SessionDep, resources: ResourcesDep) -> Response:
    return await track_list_response(request, TrackForm.read(request.query_params), database, resources)


@router.get("/ui/tracks.csv", dependencies=[PAGE])
async def track_csv(request: Request, database: SessionDep, resources: ResourcesDep) -> Response:
    form = TrackForm.read(request.query_params)
    if form.query is None:
        return page(
            request, "error.html", status_code=422, title="Cannot export", message="; ".join(form.errors)
        )
    export = form.query.model_copy(update={"format": "csv", "page": None, "cursor": None})
    try:
        exported = await tracks(export, database, resources)
    except RequestValidationError as error:
        return page(request, "error.html", status_code=422, title="Cannot export", message=refusal(error))
    assert isinstance(exported, Response)  # format=csv streams
    return exported


@router.get("/ui/tracks/{track_id}", dependencies=[PAGE])
async def track_page(
    request: Request, track_id: TrackId, database: SessionDep, error: str | None = None
) -> Response:
    found = await get_track(database, track_id)
    if found is None:
        message = f"No track with id {track_id} has been collected (ids are Beatport track ids)."
        return page(request, "error.html", status_code=404, title="Unknown track", message=message)
    return page(
        request,
        "track.html",
        status_code=422 if error else 200,
        title=found.name,
        track=found,
        chart_lines=position_line(found.chart_history),
        error=error,
    )


@router.post("/ui/tracks/{track_id}/spotify")
async def set_match(
    request: Request, track_id: TrackId, session: MatchSession, resources: ResourcesDep, database: SessionDep
) -> Response:
    fields = await form_fields(request)
    choice = fields.get("spotify_id", "").strip()
    if fields.get("decision") == "clear":
        try:
            await ManualMatchService(sessions=resources.sessions, client=None).clear_match(track_id=track_id)
        except TrackNotFoundError:
            return await track_page(request, track_id, database)
        return RedirectResponse(f"/ui/tracks/{track_id}", status_code=303)
    try:
        spotify_id = (
            None
            if fields.get("decision") == "not-on-spotify"
            else ManualMatchBody.model_validate({"spotify_id": _spotify_id(choice)}).spotify_id
        )
        await decide_match(resources, track_id=track_id, spotify_id=spotify_id, locked_by=session.name)
    except (HTTPException, ValidationError) as error:
        return await track_page(request, track_id, database, error=refusal(error))
    return RedirectResponse(f"/ui/tracks/{track_id}", status_code=303)


def _spotify_id(text: str) -> str:
    """An id, or the id in an open.spotify.com/track/<id> link (the API checks what it is)."""
    if "/track/" in text:
        return text.split("/track/", 1)[1].split("?", 1)[0].split("/", 1)[0]
    return text
