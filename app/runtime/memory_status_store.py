"""Embedded mode only: task statuses in process memory, expiring like the Redis ones (TASK_RESULT_TTL_SECONDS)
and bounded: past MAX_STATUSES the oldest go first. A restart loses them (start-up says so loudly)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from app.runtime.expiring_map import ExpiringMap
from app.runtime.task_status import (
    FINISHED_STATES,
    START_CANCELLED,
    START_LOST_TOO_OFTEN,
    CancelDecision,
    Delivery,
    StatusStore,
    TaskState,
    finished_fields,
    now_text,
    queued_fields,
)

MAX_STATUSES = 10_000


class MemoryStatusStore(StatusStore):
    def __init__(
        self,
        *,
        ttl_seconds: int,
        max_statuses: int = MAX_STATUSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds)
        self._records: ExpiringMap[dict[str, str]] = ExpiringMap(max_entries=max_statuses, clock=clock)
        # Claims are released by `finish`; the DuplicateClaims of this process shares this map.
        self.claims: ExpiringMap[str] = ExpiringMap(max_entries=max_statuses, clock=clock)

    async def write(self, task_id: str, **fields: str) -> None:
        self._records.set(task_id, {**(self._records.get(task_id) or {}), **fields}, ttl=self.ttl)

    async def read(self, task_id: str) -> dict[str, str]:
        return dict(self._records.get(task_id) or {})

    def __len__(self) -> int:
        return len(self._records)

    async def mark_queued(self, task_id: str, *, task_name: str, arguments: Mapping[str, Any]) -> None:
        await self.write(task_id, **queued_fields(task_name, arguments))

    async def start(
        self, task_id: str, *, task_name: str, reclaimed: bool = False, max_attempts: int | None = None
    ) -> int:
        record = await self.read(task_id)
        if record.get("cancel_requested") == "1" or record.get("state") == TaskState.CANCELLED:
            return START_CANCELLED
        attempt = int(record.get("attempt") or 0)
        if reclaimed and max_attempts and attempt >= max_attempts:
            return START_LOST_TOO_OFTEN
        await self.write(
            task_id,
            attempt=str(attempt + 1),
            task_name=task_name,
            state=TaskState.RUNNING,
            started_at=now_text(),
            next_attempt_at="",
        )
        return attempt + 1

    async def finish(
        self, task_id: str, *, result: Any, release_claim: str | None, delivery: Delivery | None
    ) -> TaskState:
        state = TaskState.CANCELLED if self.stopped_by_cancel(task_id) else TaskState.SUCCESS
        await self.write(task_id, **finished_fields(state, result))
        if release_claim is not None and self.claims.get(release_claim) == task_id:
            self.claims.pop(release_claim)
        return state

    async def cancel(self, task_id: str) -> CancelDecision:
        record = await self.read(task_id)
        if "state" not in record:
            return CancelDecision.UNKNOWN
        if record["state"] in FINISHED_STATES:
            return CancelDecision.FINISHED
        await self.write(task_id, cancel_requested="1")
        if record["state"] in (TaskState.QUEUED, TaskState.RETRYING):  # `start` will refuse it
            await self.mark_cancelled(task_id, message="cancelled by request before it ran")
            return CancelDecision.CANCELLED
        return CancelDecision.STOPPING

    async def close(self) -> None:
        self._records.clear()
        self.claims.clear()
