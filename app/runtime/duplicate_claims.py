"""The no-duplicate-work rule: an identical request while one is queued or running gets the existing task.

A claim maps a request's fingerprint to the task doing it. It starts short-lived and marked pending (a crash
between claim and enqueue frees it within a minute), is confirmed once the task is queued, passes to a
follow-up task, and is freed when its task finishes (in the same trip as the task's final status). A confirmed
claim whose task's status is gone (expired, or Redis lost its data) is stale and taken over: a claim never
outlives its task's status.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from redis.asyncio import Redis

from app.runtime.expiring_map import ExpiringMap
from app.runtime.redis_connection import text
from app.runtime.redis_status_store import DELETE_IF_EQUAL_SCRIPT
from app.runtime.task_status import FINISHED_STATES, StatusStore

KEY_PREFIX = "cratedigger:active:"
PENDING = "pending:"
CLAIM_SECONDS = 60

_REPLACE_IF_EQUAL_SCRIPT = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0"
)


def fingerprint(task_name: str, kwargs: dict[str, Any]) -> str:
    canonical = json.dumps({"task": task_name, "kwargs": kwargs}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class ClaimValues(Protocol):
    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool: ...
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, *, ttl: int) -> None: ...
    async def delete_if_equal(self, key: str, value: str) -> None: ...
    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool: ...


class RedisClaimValues:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool:
        return bool(await self._redis.set(key, value, ex=ttl, nx=True))

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(key)
        return text(value) if value is not None else None

    async def set(self, key: str, value: str, *, ttl: int) -> None:
        await self._redis.set(key, value, ex=ttl)

    async def delete_if_equal(self, key: str, value: str) -> None:
        await self._redis.eval(DELETE_IF_EQUAL_SCRIPT, 1, key, value)

    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool:
        replaced = await self._redis.eval(_REPLACE_IF_EQUAL_SCRIPT, 1, key, old, new, str(ttl))
        return bool(replaced)


class MemoryClaimValues:
    """Embedded mode: a map shared with the MemoryStatusStore, which frees claims when tasks finish."""

    def __init__(self, values: ExpiringMap[str]) -> None:
        self._values = values

    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool:
        if self._values.get(key) is not None:
            return False
        self._values.set(key, value, ttl=ttl)
        return True

    async def get(self, key: str) -> str | None:
        return self._values.get(key)

    async def set(self, key: str, value: str, *, ttl: int) -> None:
        self._values.set(key, value, ttl=ttl)

    async def delete_if_equal(self, key: str, value: str) -> None:
        if self._values.get(key) == value:
            self._values.pop(key)

    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool:
        if self._values.get(key) != old:
            return False
        self._values.set(key, new, ttl=ttl)
        return True


class DuplicateClaims:
    def __init__(self, values: ClaimValues, *, statuses: StatusStore) -> None:
        self._values = values
        self._statuses = statuses

    @staticmethod
    def key(request_fingerprint: str) -> str:
        return KEY_PREFIX + request_fingerprint

    async def claim(self, request_fingerprint: str, task_id: str) -> str | None:
        """Claim the request for `task_id`; returns the task already doing it instead, if there is one."""
        key = self.key(request_fingerprint)
        for _ in range(3):
            if await self._values.set_if_absent(key, PENDING + task_id, ttl=CLAIM_SECONDS):
                return None
            holder = await self._values.get(key)
            if holder is None:
                continue
            if holder.startswith(PENDING):
                return holder.removeprefix(PENDING)  # being enqueued right now
            status = await self._statuses.get(holder)
            if status is None or status.state in FINISHED_STATES:
                await self._values.delete_if_equal(key, holder)  # finished, or its status is gone
                continue
            return holder
        await self._values.set(key, PENDING + task_id, ttl=CLAIM_SECONDS)
        return None

    async def confirm(self, request_fingerprint: str, task_id: str) -> None:
        """The task is queued: its claim lasts as long as its status."""
        await self._values.set(self.key(request_fingerprint), task_id, ttl=self._statuses.ttl)

    async def release(self, request_fingerprint: str, task_id: str) -> None:
        key = self.key(request_fingerprint)
        await self._values.delete_if_equal(key, task_id)
        await self._values.delete_if_equal(key, PENDING + task_id)

    async def hand_over(self, request_fingerprint: str, *, from_task_id: str, to_task_id: str) -> bool:
        """Pass `from_task_id`'s claim to its follow-up task, which then answers identical requests."""
        return await self._values.replace_if_equal(
            self.key(request_fingerprint), from_task_id, to_task_id, ttl=self._statuses.ttl
        )
