"""Embedded mode only: task statuses in process memory, expiring like the Redis ones (TASK_RESULT_TTL_SECONDS)
and bounded: past MAX_STATUSES the oldest go first. A restart loses them (start-up says so loudly).

The index of recent tasks is a list of IndexKeys kept sorted; entries whose status expired or was dropped
leave it as listings meet them, and all at once when the list outgrows the statuses (so it stays bounded)."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.runtime.expiring_map import ExpiringMap
from app.runtime.task_status import (
    FINISHED_STATES,
    START_CANCELLED,
    START_LOST_TOO_OFTEN,
    CancelDecision,
    Delivery,
    IndexKey,
    StatusStore,
    TaskState,
    finished_fields,
    index_key,
    now_text,
    queued_fields,
)

MAX_STATUSES = 10_000
INDEX_SLACK = 100  # entries of gone statuses tolerated in the index before it is swept


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
        self._index: list[IndexKey] = []  # ascending: oldest first
        self._indexed: dict[str, IndexKey] = {}

    async def write(self, task_id: str, **fields: str) -> None:
        self._records.set(task_id, {**(self._records.get(task_id) or {}), **fields}, ttl=self.ttl)

    async def read(self, task_id: str) -> dict[str, str]:
        return dict(self._records.get(task_id) or {})

    def __len__(self) -> int:
        return len(self._records)

    async def mark_queued(self, task_id: str, *, task_name: str, arguments: Mapping[str, Any]) -> None:
        fields = queued_fields(task_name, arguments)
        await self.write(task_id, **fields)
        if task_id in self._indexed:
            await self.unindex([task_id])
        entry = index_key(task_id, fields)
        bisect.insort(self._index, entry)
        self._indexed[task_id] = entry
        if len(self._index) > 2 * len(self._records) + INDEX_SLACK:
            await self.unindex([k.task_id for k in self._index if self._records.get(k.task_id) is None])

    def index_size(self) -> int:
        return len(self._index)

    async def index_before(self, before: IndexKey | None, count: int) -> list[IndexKey]:
        end = len(self._index) if before is None else bisect.bisect_left(self._index, before)
        return self._index[max(0, end - count) : end][::-1]

    async def read_many(self, task_ids: Sequence[str]) -> list[dict[str, str]]:
        return [dict(self._records.get(task_id) or {}) for task_id in task_ids]

    async def match_many(self, task_ids: Sequence[str], fields: Mapping[str, str]) -> list[bool | None]:
        records = [self._records.get(task_id) or {} for task_id in task_ids]
        return [
            all(record.get(name) == value for name, value in fields.items()) if "state" in record else None
            for record in records
        ]

    async def unindex(self, task_ids: Sequence[str]) -> None:
        gone = {self._indexed.pop(task_id) for task_id in task_ids if task_id in self._indexed}
        if gone:
            self._index = [entry for entry in self._index if entry not in gone]

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
        self._index.clear()
        self._indexed.clear()
