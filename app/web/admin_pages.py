"""Schedules (list with next runs, create with the API's cron and limit checks, delete) and health, through
the API's own route functions, so the checks and messages are the API's."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.access import Caller
from app.api.deps import ResourcesDep, RuntimeDep, SessionDep, SettingsDep
from app.api.health_routes import health
from app.api.schedule_routes import (
    ScheduleRequest,
    create_schedule,
    delete_schedule,
    get_schedule_store,
    list_schedules,
)
from app.db.api_keys import Scope
from app.web.access import PAGE, SignedIn, acting, form_fields
from app.web.forms import filled, refusal
from app.web.session import DashboardSession
from app.web.templating import page

router = APIRouter(include_in_schema=False)

ScheduleSession = Annotated[DashboardSession, acting(Scope.admin, "changing schedules")]
ScheduleId = Annotated[str, Path(max_length=100)]


def _schedule_body(fields: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = filled(fields, ("cron", "timezone"))
    if fields.get("kind") == "enrich":
        body["enrich"] = {}
    else:
        body["collect"] = filled(fields, ("url", "genre", "max_pages"), numbers=["max_pages"])
    return body


async def _schedules_page(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    schedules, unavailable = [], None
    try:
        store = get_schedule_store(runtime)
        schedules = await list_schedules(store, runtime.statuses, settings)
    except HTTPException as refused:  # embedded mode: no Redis, no scheduler
        unavailable = refusal(refused)
    return page(
        request,
        "schedules.html",
        status_code=status_code,
        title="Schedules",
        schedules=schedules,
        unavailable=unavailable,
        values=values or {"timezone": "UTC"},
        error=error,
    )


@router.get("/ui/schedules", dependencies=[PAGE])
async def schedules_page(request: Request, runtime: RuntimeDep, settings: SettingsDep) -> Response:
    return await _schedules_page(request, runtime, settings)


@router.post("/ui/schedules")
async def add_schedule(
    request: Request,
    session: ScheduleSession,
    runtime: RuntimeDep,
    settings: SettingsDep,
    database: SessionDep,
) -> Response:
    fields = await form_fields(request)
    values = {k: fields.get(k, "") for k in ("cron", "timezone", "kind", "url", "genre", "max_pages")}
    try:
        body = ScheduleRequest.model_validate(_schedule_body(fields))
        await create_schedule(body, get_schedule_store(runtime), runtime.statuses, settings, database)
    except (ValidationError, HTTPException) as error:
        return await _schedules_page(
            request, runtime, settings, values=values, error=refusal(error), status_code=422
        )
    return RedirectResponse("/ui/schedules", status_code=303)


@router.post("/ui/schedules/{schedule_id}/delete")
async def remove_schedule(
    request: Request,
    schedule_id: ScheduleId,
    session: ScheduleSession,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> Response:
    try:
        await delete_schedule(schedule_id, get_schedule_store(runtime), settings)
    except HTTPException as error:
        return await _schedules_page(
            request, runtime, settings, error=refusal(error), status_code=error.status_code
        )
    return RedirectResponse("/ui/schedules", status_code=303)


@router.get("/ui/health")
async def health_page(
    request: Request, session: SignedIn, resources: ResourcesDep, runtime: RuntimeDep
) -> Response:
    report = await health(Caller(session.name, session.scope), resources, runtime)
    body = json.loads(bytes(report.body))
    return page(
        request, "health.html", title="Health", status=body["status"], checks=body.get("checks") or {}
    )
