"""Collect: paste a Beatport URL or pick a genre; the API's own route checks and enqueues it, so a refusal
reads exactly as the API's 422; then the task page follows it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.collect_routes import collect_beatport
from app.api.deps import RuntimeDep, SettingsDep
from app.api.schemas import CollectRequest
from app.db.api_keys import Scope
from app.sources.beatport.genres import GENRES
from app.web.access import PAGE, acting, form_fields
from app.web.forms import filled, refusal
from app.web.session import DashboardSession
from app.web.templating import page

router = APIRouter(include_in_schema=False)

CollectSession = Annotated[DashboardSession, acting(Scope.write, "collecting")]


def _form(
    request: Request, *, values: dict[str, str], error: str | None = None, status_code: int = 200
) -> Response:
    genres = sorted(GENRES, key=lambda genre: genre.name)
    return page(
        request,
        "collect.html",
        status_code=status_code,
        title="Collect",
        values=values,
        error=error,
        genres=genres,
    )


@router.get("/ui/collect", dependencies=[PAGE])
async def collect_form(request: Request) -> Response:
    return _form(request, values={})


@router.post("/ui/collect")
async def collect(
    request: Request, session: CollectSession, runtime: RuntimeDep, settings: SettingsDep
) -> Response:
    fields = await form_fields(request)
    values = {name: fields.get(name, "") for name in ("url", "genre", "max_pages")}
    try:
        body = CollectRequest.model_validate(filled(fields, values, numbers=["max_pages"]))
        accepted = await collect_beatport(body, request, Response(), runtime, settings)
    except (ValidationError, HTTPException) as error:
        return _form(request, values=values, error=refusal(error), status_code=422)
    location = f"/ui/tasks/{accepted.task_id}" + ("?duplicate=1" if accepted.duplicate_of_active else "")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
