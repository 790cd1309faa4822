from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, model_validator

from app.api.access import ADMIN, READ
from app.api.deps import RuntimeDep, SessionDep, SettingsDep, StatusStoreDep
from app.api.input_types import BodyText
from app.api.limits import check_max_pages, check_schedule_limits
from app.api.playlist_routes import PlaylistSyncRequest, check_sync_settings, validate_source
from app.api.responses import error_responses
from app.api.schemas import CollectRequest, EnrichBody, refuse_nulls
from app.config import Settings
from app.db.watchlists import count_watchlists
from app.errors import InvalidTargetError
from app.runtime.cron_schedules import (
    WATCHLIST_SCHEDULE_PREFIX,
    Schedule,
    ScheduleError,
    ScheduleKind,
    ScheduleStep,
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


ACTIONS = ("collect", "enrich", "sync")


class ScheduleRequest(BaseModel):
    """A cron and one or more actions. Several run as one chain, always in the order collect → enrich → sync,
    each started when the one before succeeded: "collect the Top 100, enrich what is new, then mirror it"."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"anyOf": [{"required": [action]} for action in ACTIONS]}
    )

    cron: BodyText
    timezone: BodyText = "UTC"
    collect: CollectRequest | None = None
    enrich: EnrichBody | None = None
    sync: PlaylistSyncRequest | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_action(cls, data: Any) -> Any:
        return refuse_nulls(data, *ACTIONS)

    @model_validator(mode="after")
    def _some_action(self) -> ScheduleRequest:
        if self.collect is None and self.enrich is None and self.sync is None:
            raise ValueError(
                'give "collect" (as for POST /collect/beatport/collect), "enrich" (as for POST '
                '/collect/spotify/enrich), "sync" (as for POST /playlists/sync), or several to run one after '
                'another, e.g. {"cron": "0 6 * * *", "collect": {"genre": "tech-house"}}'
            )
        return self


class ScheduleStepOut(BaseModel):
    kind: ScheduleKind
    description: str
    arguments: dict[str, object]


class LastRunOut(BaseModel):
    task_id: str
    enqueued_at: dt.datetime
    state: TaskState | None
    duplicate_of_active: bool


class ScheduleOut(BaseModel):
    id: str
    kind: ScheduleKind  # the first action's
    source: Literal["settings", "api", "watchlist"]
    description: str
    cron: str
    timezone: str
    arguments: dict[str, object]
    then: list[ScheduleStepOut]  # the actions chained after the first, in order
    next_run_at: dt.datetime | None  # None: the cron never fires
    last_run: LastRunOut | None  # the first action's task


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
        then=[
            ScheduleStepOut(kind=s.kind, description=s.description, arguments=s.arguments)
            for s in schedule.then
        ],
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


def _collect_step(body: CollectRequest, settings: Settings) -> ScheduleStep:
    check_max_pages(body.max_pages, settings)
    target = body.target()
    return ScheduleStep.of(
        "collect", {"target": target.path(), "max_pages": body.max_pages}, target.describe()
    )


def _enrich_step(body: EnrichBody, settings: Settings) -> ScheduleStep:
    missing = settings.missing_spotify_settings()
    if missing:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Spotify enrichment is not configured: set {' and '.join(missing)} first.",
        )
    arguments = enrich_kwargs(
        track_ids=body.track_ids, only_missing=body.only_missing, limit=body.limit, force=body.force
    )
    return ScheduleStep.of("enrich", arguments, "Spotify enrichment")


def _sync_step(body: PlaylistSyncRequest, settings: Settings) -> ScheduleStep:
    arguments = body.task_kwargs()
    validate_source(arguments["source"])
    check_sync_settings(settings)
    return ScheduleStep.of("sync", arguments, body.describe())


def _steps(body: ScheduleRequest, settings: Settings) -> list[ScheduleStep]:
    steps = []
    if body.collect is not None:
        steps.append(_collect_step(body.collect, settings))
    if body.enrich is not None:
        steps.append(_enrich_step(body.enrich, settings))
    if body.sync is not None:
        steps.append(_sync_step(body.sync, settings))
    return steps


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[ADMIN])
async def create_schedule(
    body: ScheduleRequest,
    store: ScheduleStoreDep,
    statuses: StatusStoreDep,
    settings: SettingsDep,
    session: SessionDep,
) -> ScheduleOut:
    """Add a cron schedule of a collection, an enrichment, a playlist sync, or a chain of them (in that order,
    each started once the one before succeeded); kept in Redis across restarts."""
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
    try:
        schedule = new_schedule(steps=_steps(body, settings), cron=body.cron, timezone=body.timezone)
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
