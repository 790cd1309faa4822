"""Schedules: cron-timed collections, enrichments, playlist syncs and watchlist runs, from settings (static) and
from the API (kept in Redis; a watchlist's schedule is added and removed with the watchlist, `watchlist_schedule`).
A schedule of the API may chain steps (collect → enrich → sync): its first step is enqueued at each tick and the
others (`then`) one after another, each once the one before succeeded (app.runtime.chains).

The scheduler process (`app/scheduler.py`) reads them; the API manages the dynamic ones. Everything that must
hold across processes lives in Redis: the dynamic schedules, one claim per schedule and minute (so two scheduler
processes started by mistake enqueue a tick once), and each schedule's last run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel
from redis.asyncio import Redis

from app.config import Settings
from app.errors import InvalidTargetError
from app.sources.beatport.targets import genre_target

MAX_CRON_CHARS = 100
SCHEDULES_KEY = "cratedigger:schedules"
TICK_PREFIX = "cratedigger:schedule-tick:"
LAST_RUN_PREFIX = "cratedigger:schedule-last:"

COLLECT_TASK = "collect_bp_tracks"
ENRICH_TASK = "enrich_spotify_data"
SYNC_TASK = "sync_spotify_playlist"
WATCHLIST_TASK = "run_watchlist"
WATCHLIST_SCHEDULE_PREFIX = "watchlist-"

ScheduleKind = Literal["collect", "enrich", "sync", "watchlist"]
TASK_OF_KIND: dict[str, str] = {
    "collect": COLLECT_TASK,
    "enrich": ENRICH_TASK,
    "sync": SYNC_TASK,
    "watchlist": WATCHLIST_TASK,
}


class ScheduleError(ValueError):
    """A schedule that cannot run; the message names what to fix."""


class ScheduleStep(BaseModel):
    kind: ScheduleKind
    task_name: str
    arguments: dict[str, Any]
    description: str = ""

    @classmethod
    def of(cls, kind: ScheduleKind, arguments: dict[str, Any], description: str) -> ScheduleStep:
        return cls(kind=kind, task_name=TASK_OF_KIND[kind], arguments=arguments, description=description)


class Schedule(BaseModel):
    id: str
    kind: ScheduleKind  # the first step's
    task_name: str
    arguments: dict[str, Any]
    cron: str
    timezone: str = "UTC"
    source: Literal["settings", "api", "watchlist"] = "api"
    description: str = ""
    created_at: dt.datetime | None = None
    then: list[ScheduleStep] = []  # run in order after the first step, each once the one before succeeded

    def steps(self) -> list[ScheduleStep]:
        first = ScheduleStep(kind=self.kind, task_name=self.task_name, arguments=self.arguments)
        return [first, *self.then]


class LastRun(BaseModel):
    task_id: str
    enqueued_at: dt.datetime
    duplicate_of_active: bool = False


def validate_cron(cron: str, *, setting: str = "cron") -> str:
    text = " ".join(cron.split())
    if len(text) > MAX_CRON_CHARS or len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise ScheduleError(
            f"{setting}: {cron[:MAX_CRON_CHARS]!r} is not a valid 5-field cron expression (minute hour "
            "day-of-month month day-of-week), e.g. '0 6 * * *' for 06:00 daily"
        )
    try:  # valid fields can still name a day that never comes (31 February)
        croniter(text, dt.datetime.now(dt.UTC)).get_next(dt.datetime)
    except (CroniterBadDateError, ValueError) as error:
        raise ScheduleError(f"{setting}: {text!r} never fires (no such date)") from error
    return text


def shortest_interval_minutes(cron: str, *, timezone: str = "UTC", fires: int = 600) -> float:
    """The shortest gap between two of the next `fires` runs (enough for every minute-level pattern of a day)."""
    runs = croniter(cron, dt.datetime.now(ZoneInfo(timezone)))
    times = [runs.get_next(dt.datetime) for _ in range(fires)]
    return min((later - earlier).total_seconds() / 60 for earlier, later in pairwise(times))


def check_interval(cron: str, *, timezone: str, minimum_minutes: int) -> None:
    shortest = shortest_interval_minutes(cron, timezone=timezone)
    if shortest < minimum_minutes:
        raise ScheduleError(
            f"cron {cron!r} fires every {shortest:g} minutes at times; schedules may fire at most every "
            f"{minimum_minutes} minutes (SCHEDULE_MIN_INTERVAL_MINUTES)"
        )


def validate_timezone(name: str, *, setting: str = "timezone") -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleError(
            f"{setting}: unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from error
    return name


def next_run(schedule: Schedule, *, after: dt.datetime | None = None) -> dt.datetime | None:
    """When the schedule fires next; None for one that never does (saved before such crons were refused)."""
    zone = ZoneInfo(schedule.timezone)
    start = (after or dt.datetime.now(dt.UTC)).astimezone(zone)
    try:
        following: dt.datetime = croniter(schedule.cron, start).get_next(dt.datetime)
    except (CroniterBadDateError, ValueError):
        return None
    return following.astimezone(dt.UTC)


def _stable_id(*parts: str) -> str:
    return "settings-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def static_schedules(settings: Settings) -> list[Schedule]:
    """Schedules defined by settings; raises ScheduleError naming the setting that is wrong."""
    zone = validate_timezone(settings.schedule_timezone, setting="SCHEDULE_TIMEZONE")
    schedules: list[Schedule] = []
    if settings.schedule_beatport_top100_genres:
        cron = validate_cron(settings.schedule_beatport_cron, setting="SCHEDULE_BEATPORT_CRON")
        for genre in settings.schedule_beatport_top100_genres:
            try:
                target = genre_target(genre)
            except InvalidTargetError as error:
                raise ScheduleError(f"SCHEDULE_BEATPORT_TOP100_GENRES: {error}") from error
            schedules.append(
                Schedule(
                    id=_stable_id("collect", target.path(), cron),
                    kind="collect",
                    task_name=COLLECT_TASK,
                    arguments={"target": target.path(), "max_pages": None},
                    cron=cron,
                    timezone=zone,
                    source="settings",
                    description=target.describe(),
                )
            )
    if settings.schedule_enrich_cron and settings.spotify_configured:
        cron = validate_cron(settings.schedule_enrich_cron, setting="SCHEDULE_ENRICH_CRON")
        schedules.append(
            Schedule(
                id=_stable_id("enrich", cron),
                kind="enrich",
                task_name=ENRICH_TASK,
                arguments=enrich_kwargs(only_missing=True, limit=None, force=False, track_ids=None),
                cron=cron,
                timezone=zone,
                source="settings",
                description="Spotify enrichment of tracks not yet checked",
            )
        )
    return schedules


def runnable_static_schedules(settings: Settings) -> list[Schedule]:
    """The settings' schedules, or none when they are invalid (the scheduler then refuses to start)."""
    try:
        return static_schedules(settings)
    except ScheduleError:
        return []


def enrich_kwargs(
    *, track_ids: list[int] | None, only_missing: bool, limit: int | None, force: bool
) -> dict[str, Any]:
    """The enrichment task's arguments, in the one shape the API and schedules share (duplicate detection)."""
    return {"track_ids": track_ids, "only_missing": only_missing, "limit": limit, "force": force}


def new_schedule(*, steps: list[ScheduleStep], cron: str, timezone: str) -> Schedule:
    first = steps[0]
    return Schedule(
        id=uuid.uuid4().hex[:16],
        kind=first.kind,
        task_name=first.task_name,
        arguments=first.arguments,
        cron=validate_cron(cron),
        timezone=validate_timezone(timezone),
        source="api",
        description=", then ".join(step.description for step in steps),
        created_at=dt.datetime.now(dt.UTC),
        then=steps[1:],
    )


def watchlist_schedule_id(watchlist_id: int) -> str:
    return f"{WATCHLIST_SCHEDULE_PREFIX}{watchlist_id}"


def watchlist_schedule(*, watchlist_id: int, name: str, cron: str, timezone: str) -> Schedule:
    """A watchlist's cron, run by the one scheduler like every other schedule (its id names the watchlist)."""
    return Schedule(
        id=watchlist_schedule_id(watchlist_id),
        kind="watchlist",
        task_name=WATCHLIST_TASK,
        arguments={"watchlist_id": watchlist_id},
        cron=validate_cron(cron),
        timezone=validate_timezone(timezone),
        source="watchlist",
        description=f"watchlist {watchlist_id}: {name}",
        created_at=dt.datetime.now(dt.UTC),
    )


class ScheduleStore:
    """Dynamic schedules, tick claims and last runs in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, schedule: Schedule) -> None:
        await self._redis.hset(SCHEDULES_KEY, schedule.id, schedule.model_dump_json())

    async def remove(self, schedule_id: str) -> bool:
        return bool(await self._redis.hdel(SCHEDULES_KEY, schedule_id))

    async def dynamic(self) -> list[Schedule]:
        raw = await self._redis.hgetall(SCHEDULES_KEY)
        schedules = [Schedule.model_validate_json(value) for value in raw.values()]
        return sorted(schedules, key=lambda s: (s.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), s.id))

    async def claim_tick(self, schedule_id: str, *, minute: dt.datetime) -> bool:
        """True for exactly one caller per schedule and minute, across every scheduler process."""
        key = f"{TICK_PREFIX}{schedule_id}:{minute.astimezone(dt.UTC):%Y%m%d%H%M}"
        return bool(await self._redis.set(key, "1", nx=True, ex=3 * 3600))

    async def record_run(self, schedule_id: str, run: LastRun) -> None:
        await self._redis.set(LAST_RUN_PREFIX + schedule_id, run.model_dump_json(), ex=30 * 24 * 3600)

    async def last_run(self, schedule_id: str) -> LastRun | None:
        raw = await self._redis.get(LAST_RUN_PREFIX + schedule_id)
        return LastRun.model_validate_json(raw) if raw else None
