"""Cross-cutting task behaviour lives in this taskiq middleware, not in task bodies.

One place decides a task's fate after each attempt: success, cancelled, retry later (transient errors, with
exponential backoff, jitter and the site's Retry-After), or failure with a dead letter (permanent errors, an
exceeded time budget, or the last attempt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.kicker import AsyncKicker

from app.db import dead_letters
from app.errors import is_transient, retry_after_of
from app.status import ErrorInfo, StatusStore

logger = logging.getLogger(__name__)

RETRY_LABEL = "retry_of_attempt"
FINGERPRINT_LABEL = "fingerprint"
STATUS_WRITE_ATTEMPTS = 6


class WorkerLostError(RuntimeError):
    """The task's worker died before finishing it, as many times as the task may be attempted."""


class LifecycleMiddleware(TaskiqMiddleware):
    def __init__(
        self,
        store: StatusStore,
        *,
        max_attempts: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        super().__init__()
        self.store = store
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds
        self.retry_max = retry_max_seconds
        # Set by the app lifespan (API and each worker), so dead letters land in the service's database.
        self.sessions: async_sessionmaker[AsyncSession] | None = None

    # -- status writes survive a short Redis outage -------------------------------------------------------
    async def _status(self, write: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(STATUS_WRITE_ATTEMPTS):
            try:
                return await write()
            except (RedisError, OSError) as error:
                if attempt == STATUS_WRITE_ATTEMPTS - 1:
                    logger.error("could not record task status (%r); giving up", error)
                    return None
                await asyncio.sleep(0.5 * 2**attempt)
        return None

    # -- hooks ----------------------------------------------------------------------------------------------
    async def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        if RETRY_LABEL not in message.labels:  # a retry keeps its status (retrying, attempt, first failure)
            await self.store.mark_queued(
                message.task_id, task_name=message.task_name, arguments=message.kwargs
            )
        return message

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        attempt = await self._status(
            lambda: self.store.mark_running(message.task_id, task_name=message.task_name)
        )
        message.labels["attempt"] = attempt or 1
        logger.info("task %s %s started (attempt %s)", message.task_name, message.task_id, attempt)
        return message

    async def post_save(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        task_id = message.task_id
        if not result.is_err or result.error is None:
            value = result.return_value
            if isinstance(value, dict) and value.get("cancelled"):
                await self._status(
                    lambda: self.store.mark_cancelled(
                        task_id, message="cancelled by request; work done before it was kept", result=value
                    )
                )
            else:
                await self._status(lambda: self.store.mark_success(task_id, result=value))
            await self._release(message)
            return

        error = result.error
        attempt = int(message.labels.get("attempt") or 1)
        first_failed_at = await self._status(lambda: self.store.note_failure(task_id))
        if is_transient(error) and attempt < self.max_attempts:
            await self._retry(message, error, attempt)
            return
        info = self._describe(message, error, attempt)
        logger.warning("task %s %s failed for good: %s", message.task_name, task_id, info.message)
        await self._status(lambda: self.store.mark_failure(task_id, error=info))
        await self._dead_letter(message, error, info, attempt, first_failed_at)
        await self._release(message)

    async def give_up_lost(self, data: bytes, attempts: int) -> None:
        """A task whose worker died on every one of its attempts (killed, out of memory, crashed): fail it."""
        message = self.broker.formatter.loads(data)
        error = WorkerLostError(
            f"the worker running this task stopped before it finished, {attempts} times "
            f"(killed or crashed); giving up after TASK_MAX_ATTEMPTS={self.max_attempts}"
        )
        first_failed_at = await self._status(lambda: self.store.note_failure(message.task_id))
        info = ErrorInfo(type=type(error).__name__, message=str(error))
        await self._status(lambda: self.store.mark_failure(message.task_id, error=info))
        await self._dead_letter(message, error, info, attempts, first_failed_at)
        await self._release(message)

    # -- outcomes -------------------------------------------------------------------------------------------
    def backoff_seconds(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter on top of half the step, never sooner than Retry-After."""
        step = min(self.retry_max, self.retry_base * 2 ** (attempt - 1))
        delay = step / 2 + random.uniform(0, step / 2)
        # The site's own Retry-After wins, even past RETRY_MAX: asking sooner would only be refused again.
        return max(delay, retry_after) if retry_after is not None else float(delay)

    async def _retry(self, message: TaskiqMessage, error: BaseException, attempt: int) -> None:
        delay = self.backoff_seconds(attempt, retry_after_of(error))
        next_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        logger.info(
            "task %s %s attempt %d failed (%s); retrying in %.1f s",
            message.task_name,
            message.task_id,
            attempt,
            error,
            delay,
        )
        await self._status(
            lambda: self.store.mark_retrying(message.task_id, error=error, next_attempt_at=next_at)
        )
        labels = {k: v for k, v in message.labels.items() if k not in ("attempt", "delay")}
        kicker: AsyncKicker[Any, Any] = AsyncKicker(
            task_name=message.task_name,
            broker=self.broker,
            labels={**labels, RETRY_LABEL: attempt, "delay": delay},
        ).with_task_id(message.task_id)
        await kicker.kiq(*message.args, **message.kwargs)

    def _describe(self, message: TaskiqMessage, error: BaseException, attempt: int) -> ErrorInfo:
        text = str(error)
        if isinstance(error, TimeoutError) and not text:
            text = (
                f"the task ran longer than its {message.labels.get('timeout')} s time budget and was stopped"
            )
        elif is_transient(error):
            text = f"{text} (gave up after {attempt} attempts)"
        return ErrorInfo(type=type(error).__name__, message=text or type(error).__name__)

    async def _dead_letter(
        self,
        message: TaskiqMessage,
        error: BaseException,
        info: ErrorInfo,
        attempt: int,
        first_failed_at: dt.datetime | None,
    ) -> None:
        if self.sessions is None:
            logger.error("no database attached: dead letter for %s not recorded", message.task_id)
            return
        now = dt.datetime.now(dt.UTC)
        try:
            async with self.sessions.begin() as session:
                await dead_letters.record(
                    session,
                    task_id=message.task_id,
                    task_name=message.task_name,
                    kwargs=message.kwargs,
                    error_type=info.type,
                    error_message=info.message,
                    traceback="".join(traceback.format_exception(error)),
                    attempts=attempt,
                    first_failed_at=first_failed_at or now,
                    last_failed_at=now,
                )
        except Exception:
            logger.exception("could not record the dead letter for task %s", message.task_id)

    async def _release(self, message: TaskiqMessage) -> None:
        fingerprint = message.labels.get(FINGERPRINT_LABEL)
        if fingerprint:
            await self._status(lambda: self.store.release_active(str(fingerprint), message.task_id))
