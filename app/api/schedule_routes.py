from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, model_validator

from app.api.access import ADMIN, READ
from app.api.deps import RuntimeDep, SessionDep, SettingsDep, StatusStoreDep
from app.api.input_types import BodyText
from app.api.limits import check_max_pages, check_schedule_limits
from app.api.responses import error_responses
from app.api.schemas import CollectRequest, EnrichBody, exactly_one_of, refuse_nulls
from app.db.watchlists import count_watchlists
from app.errors import InvalidTargetError
from app.runtime.cron_schedules import (
    WATCHLIST_SCHEDULE_PREFIX,
    Schedule,
    ScheduleError,
    ScheduleKind,
    ScheduleStore,
    enrich_kwargs,
    new_schedule,
    next_run,
    runnable_static_schedules,
    validate_cron,
    validate_timezone,
)
from app.runtime.task_status import TaskState

router = APIRouter(prefix="/schedules", tags=["schedules"])


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of("collect", "enrich"))

    cron: BodyText
    timezone: BodyText = "UTC"
    collect: CollectRequest | None = None
    enrich: EnrichBody | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_action(cls, data: Any) -> Any:
        return refuse_nulls(data, "collect", "enrich")

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleRequest:
        if (self.collect is None) == (self.enrich is None):
            raise ValueError(
                'give exactly one of "collect" (as for POST /collect/beatport/collect) or "enrich" '
                '(as for POST /collect/spotify/enrich), e.g. {"cron": "0 6 * * *", "collect": {"genre": "tech-house"}}'
            )
        return self


class LastRunOut(BaseModel):
    task_id: str
    enqueued_at: dt.datetime
    state: TaskState | None
    duplicate_of_active: bool


class ScheduleOut(BaseModel):
    id: str
    kind: ScheduleKind
    source: Literal["settings", "api", "watchlist"]
    description: str
    cron: str
    timezone: str
    arguments: dict[str, object]
    next_run_at: dt.datetime | None  # None: the cron never fires
    last_run: LastRunOut | None


def get_schedule_store(runtime: RuntimeDep) -> ScheduleStore:
    if runtime.schedules is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Schedules need REDIS_URL (they are kept in Redis) and one "
            "`taskiq scheduler app.scheduler:scheduler` process; the embedded mode has neither.",
        )
    return runtime.schedules


ScheduleStoreDep = Annotated[ScheduleStore, Depends(get_schedule_store)]


async def _describe(schedule: Schedule, store: ScheduleStore, statuses: StatusStoreDep) -> ScheduleOut:
    last = await store.last_run(schedule.id)
    last_out = None
    if last is not None:
        current = await statuses.get(last.task_id)
        last_out = LastRunOut(
            task_id=last.task_id,
            enqueued_at=last.enqueued_at,
            state=current.state if current else None,
            duplicate_of_active=last.duplicate_of_active,
        )
    return ScheduleOut(
        id=schedule.id,
        kind=schedule.kind,
        source=schedule.source,
        description=schedule.description,
        cron=schedule.cron,
        timezone=schedule.timezone,
        arguments=schedule.arguments,
        next_run_at=next_run(schedule),
        last_run=last_out,
    )


@router.get("", dependencies=[READ])
async def list_schedules(
    store: ScheduleStoreDep, statuses: StatusStoreDep, settings: SettingsDep
) -> list[ScheduleOut]:
    """Every schedule (from settings and from the API) with its next run and its last run's task and state."""
    schedules = [*runnable_static_schedules(settings), *await store.dynamic()]
    return [await _describe(s, store, statuses) for s in schedules]


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[ADMIN])
async def create_schedule(
    body: ScheduleRequest,
    store: ScheduleStoreDep,
    statuses: StatusStoreDep,
    settings: SettingsDep,
    session: SessionDep,
) -> ScheduleOut:
    """Add a cron schedule for a collection target or an enrichment request; kept in Redis across restarts."""
    try:
        cron = validate_cron(body.cron)
        validate_timezone(body.timezone)
    except ScheduleError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    await check_schedule_limits(
        cron=cron,
        timezone=body.timezone,
        store=store,
        settings=settings,
        watchlists=await count_watchlists(session),
    )
    if body.collect is not None:
        check_max_pages(body.collect.max_pages, settings)
    try:
        if body.collect is not None:
            request = body.collect
            target = request.target()
            schedule = new_schedule(
                kind="collect",
                kwargs={"target": target.path(), "max_pages": request.max_pages},
                cron=body.cron,
                timezone=body.timezone,
                description=target.describe(),
            )
        else:
            assert body.enrich is not None
            missing = settings.missing_spotify_settings()
            if missing:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    detail=f"Spotify enrichment is not configured: set {' and '.join(missing)} first.",
                )
            schedule = new_schedule(
                kind="enrich",
                kwargs=enrich_kwargs(
                    track_ids=body.enrich.track_ids,
                    only_missing=body.enrich.only_missing,
                    limit=body.enrich.limit,
                    force=body.enrich.force,
                ),
                cron=body.cron,
                timezone=body.timezone,
                description="Spotify enrichment",
            )
    except (ScheduleError, InvalidTargetError) as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    await store.add(schedule)
    return await _describe(schedule, store, statuses)


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
    dependencies=[ADMIN],
)
async def delete_schedule(schedule_id: str, store: ScheduleStoreDep, settings: SettingsDep) -> Response:
    """Remove a schedule added through the API (settings-defined ones change with the settings)."""
    if any(s.id == schedule_id for s in runnable_static_schedules(settings)):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"Schedule {schedule_id} comes from settings (SCHEDULE_*); change the settings to remove it.",
        )
    if schedule_id.startswith(WATCHLIST_SCHEDULE_PREFIX):
        watchlist = schedule_id.removeprefix(WATCHLIST_SCHEDULE_PREFIX)
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"Schedule {schedule_id} runs watchlist {watchlist}; DELETE /watchlists/{watchlist} removes both.",
        )
    if not await store.remove(schedule_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No schedule with id {schedule_id!r}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
