"""Enqueueing with the no-duplicate-work rule: an identical request while one is queued or running gets the
existing task id instead of a second task."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskiq import AsyncTaskiqDecoratedTask, TaskiqMessage

from app.runtime.duplicate_claims import DuplicateClaims, fingerprint
from app.runtime.lifecycle import FINGERPRINT_LABEL

if TYPE_CHECKING:
    from app.runtime.chains import Chains

RequestIdentity = Callable[[dict[str, Any]], str]


class Enqueuer:
    def __init__(self, claims: DuplicateClaims) -> None:
        self._claims = claims
        # Per task name: what makes two requests the same work (default: equal arguments).
        self.identities: dict[str, RequestIdentity] = {}
        self.chains: Chains | None = None  # tasks waiting for others (schedules' chains), with Redis

    async def enqueue_once(self, task: AsyncTaskiqDecoratedTask[Any, Any], **kwargs: Any) -> tuple[str, bool]:
        """Enqueue `task(**kwargs)` unless the same is active; returns (task id, whether it was newly enqueued)."""
        identity = self.identities.get(task.task_name)
        key = fingerprint(task.task_name, {"identity": identity(kwargs)} if identity else kwargs)
        task_id = uuid.uuid4().hex
        existing = await self._claims.claim(key, task_id)
        if existing is not None:
            return existing, False
        try:
            await task.kicker().with_task_id(task_id).with_labels(**{FINGERPRINT_LABEL: key}).kiq(**kwargs)
        except BaseException:
            await self._claims.release(key, task_id)
            raise
        await self._claims.confirm(key, task_id)
        return task_id, True

    async def enqueue_follow_up(
        self,
        task: AsyncTaskiqDecoratedTask[Any, Any],
        *,
        after: TaskiqMessage,
        delay_seconds: int,
        **kwargs: Any,
    ) -> str:
        """Enqueue the continuation of the running task `after` (message) to start in `delay_seconds`.

        The duplicate claim of `after` passes to the follow-up: an identical request (or scheduler tick) while
        the work continues, even while it waits out a quota stop, gets the follow-up's id instead of a second run.
        Chained tasks waiting for `after` wait for the follow-up instead.
        """
        task_id = uuid.uuid4().hex
        request_fingerprint = after.labels.get(FINGERPRINT_LABEL)
        labels: dict[str, Any] = {"delay": delay_seconds}
        if request_fingerprint:
            labels[FINGERPRINT_LABEL] = request_fingerprint
        await task.kicker().with_task_id(task_id).with_labels(**labels).kiq(**kwargs)
        if request_fingerprint:
            await self._claims.hand_over(
                str(request_fingerprint), from_task_id=after.task_id, to_task_id=task_id
            )
        if self.chains is not None:
            await self.chains.hand_over(after.task_id, task_id)
        return task_id
