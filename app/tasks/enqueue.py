"""Enqueueing with the no-duplicate-work rule: an identical request while one is queued or running gets the
existing task id instead of a second task."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from taskiq import AsyncTaskiqDecoratedTask, TaskiqMessage

from app.broker import status_store
from app.middleware import FINGERPRINT_LABEL


def fingerprint(task_name: str, kwargs: dict[str, Any]) -> str:
    canonical = json.dumps({"task": task_name, "kwargs": kwargs}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def enqueue_once(task: AsyncTaskiqDecoratedTask[Any, Any], **kwargs: Any) -> tuple[str, bool]:
    """Enqueue `task(**kwargs)` unless the same is active; returns (task id, whether it was newly enqueued)."""
    key = fingerprint(task.task_name, kwargs)
    task_id = uuid.uuid4().hex
    existing = await status_store.claim_active(key, task_id)
    if existing is not None:
        return existing, False
    try:
        await task.kicker().with_task_id(task_id).with_labels(**{FINGERPRINT_LABEL: key}).kiq(**kwargs)
    except BaseException:
        await status_store.release_active(key, task_id)
        raise
    await status_store.confirm_active(key, task_id)  # the short claim now lasts as long as the task's status
    return task_id, True


async def enqueue_follow_up(
    task: AsyncTaskiqDecoratedTask[Any, Any], *, after: TaskiqMessage, delay_seconds: int, **kwargs: Any
) -> str:
    """Enqueue the continuation of the running task `after` (message) to start in `delay_seconds`.

    The duplicate claim of `after` passes to the follow-up: an identical request (or scheduler tick) while the
    work continues, even while it waits out a quota stop, gets the follow-up's id instead of a second run.
    """
    task_id = uuid.uuid4().hex
    fingerprint = after.labels.get(FINGERPRINT_LABEL)
    labels: dict[str, Any] = {"delay": delay_seconds}
    if fingerprint:
        labels[FINGERPRINT_LABEL] = fingerprint
    await task.kicker().with_task_id(task_id).with_labels(**labels).kiq(**kwargs)
    if fingerprint:
        await status_store.hand_over_active(str(fingerprint), from_task_id=after.task_id, to_task_id=task_id)
    return task_id
