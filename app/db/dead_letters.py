"""Dead letters: tasks that failed for good, kept with what is needed to understand and retry them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeadLetter
from app.db.upsert import dialect_insert


async def record(
    session: AsyncSession,
    *,
    task_id: str,
    task_name: str,
    kwargs: dict[str, Any],
    error_type: str,
    error_message: str,
    traceback: str | None,
    attempts: int,
    first_failed_at: dt.datetime,
    last_failed_at: dt.datetime,
) -> None:
    """One row per task id: a task retried from the dead letters and failing again updates its row."""
    values: dict[str, Any] = {
        "task_id": task_id,
        "task_name": task_name,
        "args": [],
        "kwargs": kwargs,
        "error_type": error_type,
        "error_message": error_message,
        "traceback": traceback,
        "attempts": attempts,
        "first_failed_at": first_failed_at,
        "last_failed_at": last_failed_at,
    }
    stmt = dialect_insert(session, DeadLetter).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["task_id"],
        set_={
            k: stmt.excluded[k]
            for k in ("error_type", "error_message", "traceback", "attempts", "last_failed_at")
        },
    )
    await session.execute(stmt)


async def list_dead_letters(session: AsyncSession, *, limit: int, offset: int) -> Sequence[DeadLetter]:
    result = await session.execute(
        select(DeadLetter)
        .order_by(DeadLetter.last_failed_at.desc(), DeadLetter.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return result.scalars().all()


async def get(session: AsyncSession, *, dead_letter_id: int) -> DeadLetter | None:
    return await session.get(DeadLetter, dead_letter_id)


async def mark_retried(session: AsyncSession, *, dead_letter_id: int, task_id: str) -> None:
    await session.execute(
        update(DeadLetter).where(DeadLetter.id == dead_letter_id).values(retried_task_id=task_id)
    )
