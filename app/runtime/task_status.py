"""What `GET /tasks/status/{id}` answers, and the interface of the store that keeps it.

Taskiq's result backend only knows finished results, so every task's life (queued → running → retrying →
success | failure | cancelled), its attempt count, progress and result are kept by a `StatusStore`: in Redis
with the result TTL (`RedisStatusStore`), or in process memory in embedded mode (`MemoryStatusStore`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from app.services.progress import CancelCheck


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


FINISHED_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.CANCELLED})
CANCELLED_MESSAGE = "cancelled by request; work done before it was kept"


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


@dataclass(frozen=True)
class Delivery:
    """Where a message a worker is running came from, so finishing it can acknowledge it in the same trip."""

    stream: str
    group: str
    message_id: str
    task_id: str = ""


class CancelDecision(StrEnum):
    UNKNOWN = "unknown"
    FINISHED = "finished"
    CANCELLED = "cancelled"  # it will never run
    STOPPING = "stopping"  # running (or just delivered): it stops at its next page/track boundary


@dataclass(frozen=True, order=True)
class IndexKey:
    """A task's place in the status index: newest first is descending (enqueue time, then id), so a page
    ends at a key and the next one starts strictly below it, however many tasks arrive meanwhile."""

    enqueued_us: int  # microseconds since the epoch: exact as a Redis sorted-set score (< 2**53)
    task_id: str

    def to_cursor(self) -> str:
        return base64.urlsafe_b64encode(f"{self.enqueued_us}:{self.task_id}".encode()).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> IndexKey:
        """The key a cursor names; ValueError for text no listing handed out."""
        try:
            decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise ValueError("not a cursor this listing handed out") from error
        micros, _, task_id = decoded.partition(":")
        if not (micros.isdecimal() and len(micros) <= 16 and task_id.isascii() and 0 < len(task_id) <= 64):
            raise ValueError("not a cursor this listing handed out")
        return cls(int(micros), task_id)


def index_key(task_id: str, fields: Mapping[str, str]) -> IndexKey:
    """Where `mark_queued`'s fields put the task in the index (by its `enqueued_at`)."""
    enqueued = dt.datetime.fromisoformat(fields["enqueued_at"])
    return IndexKey(round(enqueued.timestamp() * 1_000_000), task_id)


# What `start` answers besides an attempt number.
START_CANCELLED = -1  # cancelled while queued: acknowledge and drop, never run
START_LOST_TOO_OFTEN = -2  # reclaimed after its worker died on every allowed attempt


class StatusStore(ABC):
    """Task statuses. Writes on the hot path (`start`, `finish`) are one round trip each in Redis."""

    def __init__(self, *, ttl_seconds: int) -> None:
        self.ttl = ttl_seconds
        self._observed_cancel: set[str] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    @abstractmethod
    async def mark_queued(self, task_id: str, *, task_name: str, arguments: Mapping[str, Any]) -> None: ...

    @abstractmethod
    async def start(
        self, task_id: str, *, task_name: str, reclaimed: bool = False, max_attempts: int | None = None
    ) -> int:
        """Mark the task running and return its attempt number, or START_CANCELLED / START_LOST_TOO_OFTEN
        (then nothing is written)."""

    @abstractmethod
    async def finish(
        self, task_id: str, *, result: Any, release_claim: str | None, delivery: Delivery | None
    ) -> TaskState:
        """Record a task that returned: `cancelled` if it stopped at a cancel check, else `success`; free its
        duplicate claim (`release_claim` is the claim key) and acknowledge its delivery, all at once."""

    @abstractmethod
    async def write(self, task_id: str, **fields: str) -> None: ...

    @abstractmethod
    async def cancel(self, task_id: str) -> CancelDecision:
        """Cancel at once if the task cannot have started, else ask it to stop at its next boundary."""

    @abstractmethod
    async def read(self, task_id: str) -> dict[str, str]: ...

    # -- the index of recent tasks (written by `mark_queued`, pruned as statuses expire) -----------------------
    @abstractmethod
    async def index_before(self, before: IndexKey | None, count: int) -> list[IndexKey]:
        """Up to `count` index entries strictly older than `before` (None: the newest), newest first. Entries
        whose status expired may still be among them (`read_many` finds nothing for those)."""

    @abstractmethod
    async def read_many(self, task_ids: Sequence[str]) -> list[dict[str, str]]:
        """`read` for several tasks at once (one round trip); {} for an expired one."""

    @abstractmethod
    async def match_many(self, task_ids: Sequence[str], fields: Mapping[str, str]) -> list[bool | None]:
        """Whether each task's status has these field values (None: it expired), in one round trip, without
        sending the statuses themselves."""

    @abstractmethod
    async def unindex(self, task_ids: Sequence[str]) -> None:
        """Drop index entries whose status expired."""

    async def close(self) -> None:
        return None

    # -- shared logic ---------------------------------------------------------------------------------------
    async def mark_retrying(
        self, task_id: str, *, error: BaseException | ErrorInfo, next_attempt_at: dt.datetime
    ) -> None:
        await self.write(
            task_id,
            state=TaskState.RETRYING,
            error=error_json(error),
            next_attempt_at=next_attempt_at.isoformat(),
        )

    async def mark_failure(self, task_id: str, *, error: BaseException | ErrorInfo) -> None:
        await self.write(task_id, state=TaskState.FAILURE, error=error_json(error), finished_at=now_text())

    async def mark_cancelled(self, task_id: str, *, message: str) -> None:
        await self.write(
            task_id,
            state=TaskState.CANCELLED,
            error=json.dumps({"type": "Cancelled", "message": message}),
            finished_at=now_text(),
        )

    async def note_failure(self, task_id: str) -> dt.datetime:
        """Remember when this task first failed (for dead letters); returns that time."""
        raw = await self.read(task_id)
        if raw.get("first_failed_at"):
            return dt.datetime.fromisoformat(raw["first_failed_at"])
        now = now_text()
        await self.write(task_id, first_failed_at=now)
        return dt.datetime.fromisoformat(now)

    async def set_progress(self, task_id: str, *, done: int, total: int | None, message: str) -> None:
        progress = Progress(done=done, total=total, message=message)
        await self.write(task_id, progress=progress.model_dump_json())

    async def is_cancelled(self, task_id: str) -> bool:
        raw = await self.read(task_id)
        return raw.get("cancel_requested") == "1" or raw.get("state") == TaskState.CANCELLED

    def cancel_check(self, task_id: str) -> CancelCheck:
        """For services: asked at each page/track boundary. A task that saw `True` finishes as cancelled."""

        async def check() -> bool:
            cancelled = await self.is_cancelled(task_id)
            if cancelled:
                self._observed_cancel.add(task_id)
            return cancelled

        return check

    def stopped_by_cancel(self, task_id: str) -> bool:
        """Whether this process's run of the task stopped at a cancel check (forgotten once asked)."""
        if task_id in self._observed_cancel:
            self._observed_cancel.discard(task_id)
            return True
        return False

    def reporter(self, task_id: str) -> ProgressReporter:
        return ProgressReporter(self, task_id)

    async def get(self, task_id: str) -> TaskStatus | None:
        return status_from_fields(task_id, await self.read(task_id))


class ProgressReporter:
    """Handed to services so they report progress without knowing about tasks or Redis."""

    def __init__(self, store: StatusStore, task_id: str) -> None:
        self._store = store
        self.task_id = task_id

    async def __call__(self, *, done: int, total: int | None, message: str) -> None:
        await self._store.set_progress(self.task_id, done=done, total=total, message=message)


def status_from_fields(task_id: str, raw: Mapping[str, str]) -> TaskStatus | None:
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


def queued_fields(task_name: str, arguments: Mapping[str, Any]) -> dict[str, str]:
    return {
        "task_name": task_name,
        "state": TaskState.QUEUED,
        "enqueued_at": now_text(),
        "arguments": json.dumps(arguments, default=str),
    }


def finished_fields(state: TaskState, result: Any) -> dict[str, str]:
    fields = {"state": str(state), "result": json.dumps(result, default=str), "finished_at": now_text()}
    fields["error"] = (
        json.dumps({"type": "Cancelled", "message": CANCELLED_MESSAGE})
        if state == TaskState.CANCELLED
        else ""
    )
    return fields


def error_json(error: BaseException | ErrorInfo) -> str:
    if isinstance(error, ErrorInfo):
        return error.model_dump_json()
    return json.dumps({"type": type(error).__name__, "message": str(error) or type(error).__name__})


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
