"""Enqueueing with the no-duplicate-work rule: an identical request while one is queued or running gets the
existing task id instead of a second task."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from taskiq import AsyncTaskiqDecoratedTask

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
