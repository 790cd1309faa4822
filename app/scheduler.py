"""Scheduler entrypoint: `taskiq scheduler app.scheduler:scheduler` (run exactly one; a second is harmless).

It only enqueues: workers run the tasks. Each tick is claimed in Redis per schedule and minute, so two
scheduler processes enqueue it once; a tick missed while the scheduler was down is not replayed; a scheduled
collection still queued or running when its next tick comes is not started twice (the duplicate-request rule).
Settings are checked at start: invalid cron text or an unknown genre stops the scheduler with a message naming
the setting, instead of a crash loop later.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys

from taskiq import ScheduledTask, ScheduleSource, TaskiqScheduler

from app.broker import broker, runtime, settings
from app.runtime.chains import CHAIN_POLL_SECONDS, Chains, ChainStep
from app.runtime.cron_schedules import LastRun, Schedule, ScheduleError, ScheduleStore, static_schedules
from app.runtime.worker_registry import WorkerRegistry
from app.tasks import (  # noqa: F401  (registers the tasks the schedules name)
    collection_tasks,
    playlist_tasks,
    watchlist_tasks,
)

logger = logging.getLogger(__name__)


class CratediggerScheduleSource(ScheduleSource):
    """Static schedules from settings plus the dynamic ones kept in Redis (re-read every minute): those added
    through /schedules and those of watchlists (`run_watchlist`, added and removed with their watchlist)."""

    def __init__(self, *, static: list[Schedule], store: ScheduleStore, workers: WorkerRegistry) -> None:
        self.static = static
        self.store = store
        self.workers = workers
        self.by_id: dict[str, Schedule] = {}  # as last read: a tick starts the schedule's whole chain

    async def get_schedules(self) -> list[ScheduledTask]:
        await self.workers.beat_scheduler()  # once a minute: what `cratedigger health scheduler` checks
        schedules = [*self.static, *await self.store.dynamic()]
        self.by_id = {s.id: s for s in schedules}
        return [
            ScheduledTask(
                task_name=s.task_name,
                labels={},
                args=[],
                kwargs=s.arguments,
                schedule_id=s.id,
                cron=s.cron,
                cron_offset=s.timezone,
            )
            for s in schedules
        ]


class CratediggerScheduler(TaskiqScheduler):
    def __init__(self, *, store: ScheduleStore, source: CratediggerScheduleSource, chains: Chains) -> None:
        super().__init__(broker=broker, sources=[source])
        self.store = store
        self.chains = chains
        self._advancing: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        await super().startup()
        self._advancing = asyncio.create_task(self._advance_chains())

    async def shutdown(self) -> None:
        if self._advancing is not None:
            self._advancing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._advancing
        await super().shutdown()

    async def _advance_chains(self) -> None:
        """Start each schedule's next step once the one before ended (app.runtime.chains)."""
        while True:
            try:
                await self.chains.advance()
            except Exception:  # Redis away, a step naming a task that is gone: logged, tried again later
                logger.exception("could not advance the schedules' chained steps")
            await asyncio.sleep(CHAIN_POLL_SECONDS)

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        now = dt.datetime.now(dt.UTC)
        if not await self.store.claim_tick(task.schedule_id, minute=now.replace(second=0, microsecond=0)):
            logger.info(
                "schedule %s: this minute's tick was already enqueued by another scheduler", task.schedule_id
            )
            return
        schedule = (
            source.by_id.get(task.schedule_id) if isinstance(source, CratediggerScheduleSource) else None
        )
        steps = schedule.steps() if schedule is not None else []
        chain = [ChainStep(task_name=step.task_name, arguments=step.arguments) for step in steps]
        try:
            task_id, created = await self.chains.start(
                chain or [ChainStep(task_name=task.task_name, arguments=task.kwargs)]
            )
        except LookupError as error:
            logger.error("schedule %s: %s; skipped", task.schedule_id, error)
            return
        await self.store.record_run(
            task.schedule_id, LastRun(task_id=task_id, enqueued_at=now, duplicate_of_active=not created)
        )
        if created:
            logger.info("schedule %s enqueued %s as task %s", task.schedule_id, task.task_name, task_id)
        else:
            logger.info(
                "schedule %s: previous run %s still active; not started twice", task.schedule_id, task_id
            )


def _build() -> CratediggerScheduler:
    if not settings.redis_url:
        sys.exit("The scheduler needs REDIS_URL (a Redis broker shared with the workers); it is not set.")
    try:
        static = static_schedules(settings)
    except ScheduleError as error:
        sys.exit(f"Scheduler settings are invalid: {error}")
    store, chains, workers = runtime.schedules, runtime.chains, runtime.workers
    assert store is not None and chains is not None and workers is not None  # REDIS_URL is set
    source = CratediggerScheduleSource(static=static, store=store, workers=workers)
    return CratediggerScheduler(store=store, source=source, chains=chains)


scheduler = _build()
