"""The deployment's limits on what callers may ask for (contract, second part: "Limits")."""

from __future__ import annotations

from fastapi import HTTPException, status

from app.config import Settings
from app.runtime.cron_schedules import ScheduleError, ScheduleStore, check_interval, runnable_static_schedules


def check_max_pages(max_pages: int | None, settings: Settings) -> None:
    if max_pages is not None and max_pages > settings.collect_max_pages:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"max_pages {max_pages} is more than this deployment allows: at most "
            f"{settings.collect_max_pages} pages a collection (COLLECT_MAX_PAGES).",
        )


async def check_schedule_limits(
    *, cron: str, timezone: str, store: ScheduleStore | None, settings: Settings, watchlists: int
) -> None:
    """The cron fires at most every SCHEDULE_MIN_INTERVAL_MINUTES, and one more schedule or watchlist fits under
    SCHEDULES_MAX. Watchlists are counted from the database (`watchlists`), where they live, not from their
    schedules in Redis (the embedded mode has none)."""
    try:
        check_interval(cron, timezone=timezone, minimum_minutes=settings.schedule_min_interval_minutes)
    except (ScheduleError, ValueError) as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    dynamic = await store.dynamic() if store is not None else []
    existing = (
        len(runnable_static_schedules(settings))
        + sum(1 for schedule in dynamic if schedule.kind != "watchlist")
        + watchlists
    )
    if existing >= settings.schedules_max:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{existing} schedules and watchlists exist, the most this deployment allows (SCHEDULES_MAX="
            f"{settings.schedules_max}); delete one first.",
        )
