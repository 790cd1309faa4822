"""Task-layer operations behind the task-management endpoints: cancel a task, re-run a dead letter."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import broker, status_store
from app.db import dead_letters
from app.status import FINISHED_STATES, TaskState, TaskStatus
from app.tasks.enqueue import enqueue_once


@dataclass(frozen=True)
class CancelOutcome:
    status: TaskStatus
    immediate: bool  # True: it will never run; False: it stops at its next page/track boundary


class TaskFinishedError(Exception):
    pass


async def cancel_task(task_id: str) -> CancelOutcome | None:
    """None for an unknown task; raises TaskFinishedError for one that already ended."""
    current = await status_store.get(task_id)
    if current is None:
        return None
    if current.state in FINISHED_STATES:
        raise TaskFinishedError(
            f"Task {task_id} already ended ({current.state}); there is nothing to cancel."
        )
    await status_store.request_cancel(task_id)
    if current.state in (TaskState.QUEUED, TaskState.RETRYING):
        await status_store.mark_cancelled(task_id, message="cancelled by request before it ran")
        immediate = True
    else:
        immediate = False
    updated = await status_store.get(task_id)
    assert updated is not None
    return CancelOutcome(status=updated, immediate=immediate)


class DeadLetterNotFoundError(LookupError):
    pass


async def retry_dead_letter(
    sessions: async_sessionmaker[AsyncSession], *, dead_letter_id: int
) -> tuple[str, bool]:
    """Enqueue the dead letter's task again with the same arguments; returns (task id, newly enqueued)."""
    async with sessions() as session:
        letter = await dead_letters.get(session, dead_letter_id=dead_letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(f"No dead letter with id {dead_letter_id}.")
        task_name, kwargs = letter.task_name, dict(letter.kwargs)
    task = broker.find_task(task_name)
    if task is None:
        raise DeadLetterNotFoundError(
            f"Dead letter {dead_letter_id} names task {task_name!r}, which no longer exists."
        )
    task_id, created = await enqueue_once(task, **kwargs)
    async with sessions.begin() as session:
        await dead_letters.mark_retried(session, dead_letter_id=dead_letter_id, task_id=task_id)
    return task_id, created
