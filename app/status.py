"""Task lifecycle records: what `GET /tasks/status/{id}` answers.

Taskiq's result backend only knows finished results, so every task's life (queued → running → retrying →
success | failure | cancelled), its attempt count and its progress are kept here, in Redis with the result TTL
(or in process memory in embedded mode). One class holds the logic; the two backends only store hashes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from app.services.progress import CancelCheck

KEY_PREFIX = "cratedigger:status:"
DEDUPE_PREFIX = "cratedigger:active:"
CLAIM_SECONDS = 60


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


FINISHED_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.CANCELLED})


class Progress(BaseModel):
    done: int
    total: int | None
    message: str


class ErrorInfo(BaseModel):
    type: str
    message: str


class TaskStatus(BaseModel):
    task_id: str
    task_name: str
    state: TaskState
    progress: Progress | None = None
    result: Any = None
    error: ErrorInfo | None = None
    attempt: int = 0
    enqueued_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None


class HashBackend(Protocol):
    async def write(self, key: str, fields: Mapping[str, str], *, ttl: int) -> None: ...
    async def increment(self, key: str, field: str, *, ttl: int) -> int: ...
    async def read(self, key: str) -> dict[str, str]: ...
    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool: ...
    async def get_value(self, key: str) -> str | None: ...
    async def set_value(self, key: str, value: str, *, ttl: int) -> None: ...
    async def delete_if_equal(self, key: str, value: str) -> None: ...
    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool: ...
    async def close(self) -> None: ...


class RedisHashes:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def write(self, key: str, fields: Mapping[str, str], *, ttl: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping=cast(
                    "dict[str | bytes | bytearray | memoryview[int] | int | float, str]", dict(fields)
                ),
            )
            pipe.expire(key, ttl)
            await pipe.execute()

    async def increment(self, key: str, field: str, *, ttl: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, field, 1)
            pipe.expire(key, ttl)
            value, _ = await pipe.execute()
        return int(value)

    async def read(self, key: str) -> dict[str, str]:
        raw = await self._redis.hgetall(key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool:
        return bool(await self._redis.set(key, value, ex=ttl, nx=True))

    async def get_value(self, key: str) -> str | None:
        value = await self._redis.get(key)
        return _text(value) if value is not None else None

    async def set_value(self, key: str, value: str, *, ttl: int) -> None:
        await self._redis.set(key, value, ex=ttl)

    async def delete_if_equal(self, key: str, value: str) -> None:
        await self._redis.eval(_DELETE_IF_EQUAL, 1, key, value)

    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool:
        return bool(await self._redis.eval(_REPLACE_IF_EQUAL, 1, key, old, new, str(ttl)))

    async def close(self) -> None:
        await self._redis.aclose()


_DELETE_IF_EQUAL = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_REPLACE_IF_EQUAL = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0"
)


class MemoryHashes:
    """Embedded mode only: statuses live as long as the process (logged at start-up)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}
        self._values: dict[str, str] = {}

    async def write(self, key: str, fields: Mapping[str, str], *, ttl: int) -> None:
        self._data.setdefault(key, {}).update(fields)

    async def increment(self, key: str, field: str, *, ttl: int) -> int:
        entry = self._data.setdefault(key, {})
        entry[field] = str(int(entry.get(field, "0")) + 1)
        return int(entry[field])

    async def read(self, key: str) -> dict[str, str]:
        return dict(self._data.get(key, {}))

    async def set_if_absent(self, key: str, value: str, *, ttl: int) -> bool:
        if key in self._values:
            return False
        self._values[key] = value
        return True

    async def get_value(self, key: str) -> str | None:
        return self._values.get(key)

    async def set_value(self, key: str, value: str, *, ttl: int) -> None:
        self._values[key] = value

    async def delete_if_equal(self, key: str, value: str) -> None:
        if self._values.get(key) == value:
            del self._values[key]

    async def replace_if_equal(self, key: str, old: str, new: str, *, ttl: int) -> bool:
        if self._values.get(key) != old:
            return False
        self._values[key] = new
        return True

    async def close(self) -> None:
        self._data.clear()
        self._values.clear()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class StatusStore:
    def __init__(self, backend: HashBackend, *, ttl_seconds: int) -> None:
        self._backend = backend
        self._ttl = ttl_seconds

    @staticmethod
    def key(task_id: str) -> str:
        return KEY_PREFIX + task_id

    async def _write(self, task_id: str, **fields: str) -> None:
        await self._backend.write(self.key(task_id), fields, ttl=self._ttl)

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def mark_queued(self, task_id: str, *, task_name: str, arguments: Mapping[str, Any]) -> None:
        await self._write(
            task_id,
            task_name=task_name,
            state=TaskState.QUEUED,
            enqueued_at=_now(),
            arguments=json.dumps(arguments, default=str),
        )

    async def mark_running(self, task_id: str, *, task_name: str) -> int:
        """Record a start of execution and return its attempt number (1 for the first delivery)."""
        attempt = await self._backend.increment(self.key(task_id), "attempt", ttl=self._ttl)
        await self._write(
            task_id, task_name=task_name, state=TaskState.RUNNING, started_at=_now(), next_attempt_at=""
        )
        return attempt

    async def mark_retrying(
        self, task_id: str, *, error: BaseException | ErrorInfo, next_attempt_at: dt.datetime
    ) -> None:
        await self._write(
            task_id,
            state=TaskState.RETRYING,
            error=_error_json(error),
            next_attempt_at=next_attempt_at.isoformat(),
        )

    async def mark_success(self, task_id: str, *, result: Any) -> None:
        await self._write(
            task_id,
            state=TaskState.SUCCESS,
            result=json.dumps(result, default=str),
            error="",
            finished_at=_now(),
        )

    async def mark_failure(self, task_id: str, *, error: BaseException | ErrorInfo) -> None:
        await self._write(task_id, state=TaskState.FAILURE, error=_error_json(error), finished_at=_now())

    async def mark_cancelled(self, task_id: str, *, message: str, result: Any = None) -> None:
        await self._write(
            task_id,
            state=TaskState.CANCELLED,
            error=json.dumps({"type": "Cancelled", "message": message}),
            result=json.dumps(result, default=str) if result is not None else "",
            finished_at=_now(),
        )

    async def note_failure(self, task_id: str) -> dt.datetime:
        """Remember when this task first failed (for dead letters); returns that time."""
        raw = await self._backend.read(self.key(task_id))
        if raw.get("first_failed_at"):
            return dt.datetime.fromisoformat(raw["first_failed_at"])
        now = _now()
        await self._write(task_id, first_failed_at=now)
        return dt.datetime.fromisoformat(now)

    async def set_progress(self, task_id: str, *, done: int, total: int | None, message: str) -> None:
        progress = Progress(done=done, total=total, message=message)
        await self._write(task_id, progress=progress.model_dump_json())

    # -- cancellation ---------------------------------------------------------------------------------------
    async def request_cancel(self, task_id: str) -> None:
        await self._write(task_id, cancel_requested="1")

    async def is_cancelled(self, task_id: str) -> bool:
        raw = await self._backend.read(self.key(task_id))
        return raw.get("cancel_requested") == "1" or raw.get("state") == TaskState.CANCELLED

    def cancel_check(self, task_id: str) -> CancelCheck:
        async def check() -> bool:
            return await self.is_cancelled(task_id)

        return check

    # -- duplicate requests ---------------------------------------------------------------------------------
    async def claim_active(self, fingerprint: str, task_id: str) -> str | None:
        """Register `task_id` as the active run for `fingerprint`; return an already active task id instead.

        The claim starts short-lived (a crash between claim and enqueue frees it within a minute) and is made
        to last by `confirm_active` once the task is queued. A fingerprint whose task finished is free again.
        """
        key = DEDUPE_PREFIX + fingerprint
        for _ in range(3):
            if await self._backend.set_if_absent(key, task_id, ttl=CLAIM_SECONDS):
                return None
            holder = await self._backend.get_value(key)
            if holder is None:
                continue
            status = await self.get(holder)
            if status is not None and status.state in FINISHED_STATES:
                await self._backend.delete_if_equal(key, holder)
                continue
            return holder  # queued/running/retrying, or being enqueued right now (no status yet)
        await self._backend.set_value(key, task_id, ttl=CLAIM_SECONDS)
        return None

    async def confirm_active(self, fingerprint: str, task_id: str) -> None:
        await self._backend.set_value(DEDUPE_PREFIX + fingerprint, task_id, ttl=self._ttl)

    async def release_active(self, fingerprint: str, task_id: str) -> None:
        await self._backend.delete_if_equal(DEDUPE_PREFIX + fingerprint, task_id)

    async def hand_over_active(self, fingerprint: str, *, from_task_id: str, to_task_id: str) -> bool:
        """Pass `from_task_id`'s claim to its follow-up task, which then answers identical requests."""
        key = DEDUPE_PREFIX + fingerprint
        return await self._backend.replace_if_equal(key, from_task_id, to_task_id, ttl=self._ttl)

    # -- reading --------------------------------------------------------------------------------------------
    async def get(self, task_id: str) -> TaskStatus | None:
        raw = await self._backend.read(self.key(task_id))
        if not raw or "state" not in raw:
            return None
        return TaskStatus(
            task_id=task_id,
            task_name=raw.get("task_name", ""),
            state=TaskState(raw["state"]),
            progress=Progress.model_validate_json(raw["progress"]) if raw.get("progress") else None,
            result=json.loads(raw["result"]) if raw.get("result") else None,
            error=ErrorInfo.model_validate_json(raw["error"]) if raw.get("error") else None,
            attempt=int(raw.get("attempt") or 0),
            enqueued_at=_parse_time(raw.get("enqueued_at")),
            started_at=_parse_time(raw.get("started_at")),
            finished_at=_parse_time(raw.get("finished_at")),
            next_attempt_at=_parse_time(raw.get("next_attempt_at")),
        )

    def reporter(self, task_id: str) -> ProgressReporter:
        return ProgressReporter(self, task_id)

    async def close(self) -> None:
        await self._backend.close()


class ProgressReporter:
    """Handed to services so they report progress without knowing about tasks or Redis."""

    def __init__(self, store: StatusStore, task_id: str) -> None:
        self._store = store
        self.task_id = task_id

    async def __call__(self, *, done: int, total: int | None, message: str) -> None:
        await self._store.set_progress(self.task_id, done=done, total=total, message=message)


def _error_json(error: BaseException | ErrorInfo) -> str:
    if isinstance(error, ErrorInfo):
        return error.model_dump_json()
    return json.dumps({"type": type(error).__name__, "message": str(error) or type(error).__name__})


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
