"""Cross-cutting task behaviour lives in this taskiq middleware, not in task bodies.

One place decides a task's fate after each attempt: success or cancelled (recorded with its result, its claim
freed and its message acknowledged in one trip), retry later (transient errors, with exponential backoff,
jitter and the site's Retry-After), or failure with a dead letter (permanent errors, an exceeded time budget,
or the last attempt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.kicker import AsyncKicker

from app.errors import retry_after_of
from app.runtime.dead_letter_outbox import DeadLetterOutbox, DeadLetterRecord
from app.runtime.deliveries import Deliveries
from app.runtime.duplicate_claims import DuplicateClaims
from app.runtime.error_reports import error_report
from app.runtime.retry_policy import is_transient
from app.runtime.stream_broker import ATTEMPT_LABEL
from app.runtime.task_status import ErrorInfo, StatusStore

logger = logging.getLogger(__name__)

RETRY_LABEL = "retry_of_attempt"
FINGERPRINT_LABEL = "fingerprint"
STATUS_WRITE_ATTEMPTS = 6  # about 15 s of waiting out a Redis outage
T = TypeVar("T")


class WorkerLostError(RuntimeError):
    """The task's worker died before finishing it, as many times as the task may be attempted."""


class LifecycleMiddleware(TaskiqMiddleware):
    def __init__(
        self,
        *,
        statuses: StatusStore,
        claims: DuplicateClaims,
        outbox: DeadLetterOutbox,
        deliveries: Deliveries | None,
        max_attempts: int,
        retry_base_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        super().__init__()
        self.statuses = statuses
        self.claims = claims
        self.outbox = outbox
        self.deliveries = deliveries
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds
        self.retry_max = retry_max_seconds

    async def _patiently(self, write: Callable[[], Awaitable[T]]) -> T | None:
        """Status writes survive a short Redis outage; after that the failure is logged, not raised."""
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
            await self.statuses.mark_queued(
                message.task_id, task_name=message.task_name, arguments=message.kwargs
            )
        return message

    async def _attempt(self, message: TaskiqMessage) -> int:
        """This run's attempt number, once its start is recorded (the stream broker records it while the task
        runs, the in-process broker before)."""
        recorded = await self.deliveries.attempt_of(message.task_id) if self.deliveries else None
        if recorded is not None:
            return recorded
        if message.labels.get(ATTEMPT_LABEL):
            return int(message.labels[ATTEMPT_LABEL])
        return int(message.labels.get(RETRY_LABEL) or 0) + 1

    async def post_save(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        if result.is_err and result.error is not None:
            await self._failed(message, result.error)
            return
        attempt = await self._attempt(message)  # and the start is written before the end
        delivery = self.deliveries.delivery_of(message.task_id) if self.deliveries else None
        fingerprint = message.labels.get(FINGERPRINT_LABEL)
        finished = await self._patiently(
            lambda: self.statuses.finish(
                message.task_id,
                result=result.return_value,
                release_claim=self.claims.key(str(fingerprint)) if fingerprint else None,
                delivery=delivery,
            )
        )
        if delivery is not None and self.deliveries is not None:
            # Acknowledged with the status; or, if that could not be recorded, left to be delivered again.
            self.deliveries.settled.add(delivery.message_id)
        outcome = finished or "status not recorded"
        logger.info("task %s %s attempt %d ended: %s", message.task_name, message.task_id, attempt, outcome)

    async def _failed(self, message: TaskiqMessage, error: BaseException) -> None:
        self.statuses.stopped_by_cancel(message.task_id)  # a cancel this run saw no longer matters: it failed
        attempt = await self._attempt(message)
        if is_transient(error) and attempt < self.max_attempts:
            await self._retry(message, error, attempt)
            return
        info = self._describe(message, error, attempt)
        logger.warning("task %s %s failed for good: %s", message.task_name, message.task_id, info.message)
        await self._fail(message, error, info, attempt)

    async def give_up_lost(self, data: bytes, attempts: int) -> None:
        """A task whose worker died on every one of its attempts (killed, out of memory, crashed): fail it."""
        message = self.broker.formatter.loads(data)
        error = WorkerLostError(
            f"the worker running this task stopped before it finished, {attempts} times "
            f"(killed or crashed); giving up after TASK_MAX_ATTEMPTS={self.max_attempts}"
        )
        await self._fail(message, error, ErrorInfo(type=type(error).__name__, message=str(error)), attempts)

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
        await self._patiently(
            lambda: self.statuses.mark_retrying(
                message.task_id, error=error_report(error), next_attempt_at=next_at
            )
        )
        keep = {k: v for k, v in message.labels.items() if k not in (ATTEMPT_LABEL, "delay")}
        kicker: AsyncKicker[Any, Any] = AsyncKicker(
            task_name=message.task_name,
            broker=self.broker,
            labels={**keep, RETRY_LABEL: attempt, "delay": delay},
        ).with_task_id(message.task_id)
        await kicker.kiq(*message.args, **message.kwargs)

    def _describe(self, message: TaskiqMessage, error: BaseException, attempt: int) -> ErrorInfo:
        report = error_report(error)
        if type(error) is TimeoutError and not str(error):
            budget = message.labels.get("timeout")
            text = f"the task ran longer than its {budget} s time budget and was stopped"
            return ErrorInfo(type=type(error).__name__, message=text)
        if is_transient(error):
            return ErrorInfo(type=report.type, message=f"{report.message} (gave up after {attempt} attempts)")
        return report

    async def _fail(
        self, message: TaskiqMessage, error: BaseException, info: ErrorInfo, attempt: int
    ) -> None:
        first_failed_at = await self._patiently(lambda: self.statuses.note_failure(message.task_id))
        await self._patiently(lambda: self.statuses.mark_failure(message.task_id, error=info))
        now = dt.datetime.now(dt.UTC)
        letter = DeadLetterRecord(
            task_id=message.task_id,
            task_name=message.task_name,
            kwargs=dict(message.kwargs),
            error_type=info.type,
            error_message=info.message,
            traceback="".join(traceback.format_exception(error)),
            attempts=attempt,
            first_failed_at=first_failed_at or now,
            last_failed_at=now,
        )
        await self._patiently(lambda: self.outbox.record(letter))
        fingerprint = message.labels.get(FINGERPRINT_LABEL)
        if fingerprint:
            await self._patiently(lambda: self.claims.release(str(fingerprint), message.task_id))
