"""Task-layer operations behind the task-management endpoints: cancel a task, re-run a dead letter."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import dead_letters
from app.runtime import Runtime
from app.runtime.task_status import CancelDecision, TaskStatus


@dataclass(frozen=True)
class CancelOutcome:
    status: TaskStatus
    immediate: bool  # True: it will never run; False: it stops at its next page/track boundary


class TaskFinishedError(Exception):
    pass


async def cancel_task(*, runtime: Runtime, task_id: str) -> CancelOutcome | None:
    """None for an unknown task; raises TaskFinishedError for one that already ended."""
    outcome = await runtime.statuses.cancel(task_id)
    if outcome == CancelDecision.FINISHED:
        current = await runtime.statuses.get(task_id)
        state = current.state if current else "finished"
        raise TaskFinishedError(f"Task {task_id} already ended ({state}); there is nothing to cancel.")
    updated = await runtime.statuses.get(task_id)
    if outcome == CancelDecision.UNKNOWN or updated is None:
        return None
    return CancelOutcome(status=updated, immediate=outcome == CancelDecision.CANCELLED)


RUN_PARAMETER = "run_id"  # a task with this parameter resumes the run it is given (app.services.collection)


class DeadLetterNotFoundError(LookupError):
    pass


async def retry_dead_letter(
    *, runtime: Runtime, sessions: async_sessionmaker[AsyncSession], dead_letter_id: int
) -> tuple[str, bool]:
    """Enqueue the dead letter's task again with the same arguments; returns (task id, newly enqueued)."""
    async with sessions() as session:
        letter = await dead_letters.get(session, dead_letter_id=dead_letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(f"No dead letter with id {dead_letter_id}.")
        task_name, kwargs, failed_task_id = letter.task_name, dict(letter.kwargs), letter.task_id
    task = runtime.broker.find_task(task_name)
    if task is None:
        raise DeadLetterNotFoundError(
            f"Dead letter {dead_letter_id} names task {task_name!r}, which no longer exists."
        )
    if RUN_PARAMETER in inspect.signature(task.original_func).parameters:
        # A task that knows runs (a collection) continues the failed one's: it resumes where that stopped.
        kwargs[RUN_PARAMETER] = kwargs.get(RUN_PARAMETER) or failed_task_id
    task_id, created = await runtime.enqueuer.enqueue_once(task, **kwargs)
    async with sessions.begin() as session:
        await dead_letters.mark_retried(session, dead_letter_id=dead_letter_id, task_id=task_id)
    return task_id, created
