"""The durable broker: a Redis stream read by a consumer group, acknowledged when the task's fate is recorded.

- **Acknowledged delivery.** A message a worker took but never finished is claimed back (XAUTOCLAIM, idle
  longer than the visibility timeout) on a timer, so even an idle queue strands nothing.
- **Leases.** Running messages have their idle time reset well within the visibility timeout, so a healthy
  long task is never reclaimed and run twice.
- **Free slots, no read-ahead.** One XREADGROUP reads as many messages as the worker has free slots of its
  `WORKER_CONCURRENCY`; nothing sits prefetched in a worker that cannot start it.
- **Few round trips, none before a task starts.** A task runs as soon as it is read; recording that it runs
  (running + attempt) goes out for every message of one read in one pipeline while they run, and finishing
  (status + result + claim release + XACK) is one MULTI (see `RedisStatusStore`). Cancelling a queued task
  deletes its message before any worker takes it (its id is kept in the status when it is enqueued), so no
  check is needed on pick-up; a reclaimed message is checked before it runs again.
- **Redis faults.** A timeout or lost connection is logged and retried with backoff; a consumer group that
  vanished (Redis restarted empty) is created again from the stream's start, so tasks enqueued meanwhile run.
- **Trimmed.** Entries every group acknowledged are deleted once a minute (`stream_trim`).
- **Delays.** A message labelled `delay` waits in a sorted set, moved to the stream by a script when due.
- **Graceful shutdown.** SIGTERM stops reading; running tasks get `WORKER_SHUTDOWN_GRACE_SECONDS`; what is
  left is handed back (idle time set past the visibility timeout) so another worker takes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from taskiq import AckableMessage, AsyncBroker, TaskiqMessage
from taskiq.message import BrokerMessage

from app.runtime.deliveries import Deliveries
from app.runtime.redis_connection import REDIS_ERRORS, text
from app.runtime.redis_status_store import KEY_PREFIX, RedisStatusStore
from app.runtime.shutdown import GracefulShutdown
from app.runtime.stream_trim import TRIM_INTERVAL_SECONDS, trim_acknowledged
from app.runtime.task_status import START_CANCELLED, START_LOST_TOO_OFTEN, Delivery
from app.runtime.worker_registry import HEARTBEAT_SECONDS, WorkerRegistry

logger = logging.getLogger(__name__)

ATTEMPT_LABEL = "attempt"  # set by the in-process broker; the stream broker records attempts in `Deliveries`
READ_BLOCK_MS = 1000  # well inside the 5 s socket timeout

# KEYS[1] stream, KEYS[2] the task's status hash; ARGV[1] the message. The status learns the message's id, so a
# cancel can delete the message while it is still queued.
_ENQUEUE_SCRIPT = """
local id = redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'message_id', id) end
return id
"""
# Moves due delayed messages into the stream atomically (two workers never move one twice), dropping those
# cancelled while they waited. KEYS: delayed set, stream; ARGV: now, batch size, status key prefix.
_MOVE_DUE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local ok, message = pcall(cjson.decode, member)
  local status = nil
  if ok and type(message) == 'table' and type(message['task_id']) == 'string' then
    status = ARGV[3] .. message['task_id']
  end
  if not (status and redis.call('HGET', status, 'cancel_requested') == '1') then
    local id = redis.call('XADD', KEYS[2], '*', 'data', member)
    if status and redis.call('EXISTS', status) == 1 then redis.call('HSET', status, 'message_id', id) end
  end
end
return #due
"""

Entry = tuple[str, dict[bytes, bytes]]  # (message id, fields)
PeriodicJob = tuple[float, Callable[[], Awaitable[Any]]]


def message_delay(labels: dict[str, Any]) -> float:
    try:
        return max(0.0, float(labels.get("delay") or 0))
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class StreamSettings:
    queue_name: str
    consumer_group: str
    visibility_timeout_seconds: float
    reclaim_interval_seconds: float
    concurrency: int
    shutdown_grace_seconds: float
    max_attempts: int


class DurableStreamBroker(AsyncBroker):
    def __init__(
        self,
        *,
        redis: Redis,
        statuses: RedisStatusStore,
        workers: WorkerRegistry,
        deliveries: Deliveries,
        settings: StreamSettings,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.statuses = statuses
        self.workers = workers
        self.deliveries = deliveries
        self.config = settings
        self.queue_name = settings.queue_name
        self.group = settings.consumer_group
        self.delayed_key = f"{settings.queue_name}:delayed"
        self.consumer_name = uuid.uuid4().hex
        # Called for a reclaimed message whose task already started `max_attempts` times and never finished
        # (its worker kept dying): the lifecycle middleware fails it into a dead letter instead.
        self.on_lost_too_often: Callable[[bytes, int], Awaitable[None]] | None = None
        self.periodic_jobs: list[PeriodicJob] = []
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._background: list[asyncio.Task[None]] = []
        self._next_reclaim = 0.0
        self.shutdown_control = GracefulShutdown(self, grace_seconds=settings.shutdown_grace_seconds)

    # -- producing -----------------------------------------------------------------------------------------
    async def kick(self, message: BrokerMessage) -> None:
        delay = message_delay(message.labels)
        if delay > 0:
            await self.redis.zadd(self.delayed_key, {message.message: time.time() + delay})
        else:
            status_key = self.statuses.key(message.task_id)
            await self.redis.eval(_ENQUEUE_SCRIPT, 2, self.queue_name, status_key, message.message)

    async def startup(self) -> None:
        await super().startup()
        # The API declares the group too, before its first enqueue, so nothing sent before a worker starts is
        # skipped; `$` because an existing stream's old entries were all handled by an earlier group.
        await self._create_group(start_id="$")
        if self.is_worker_process:
            self.shutdown_control.install()

    async def _create_group(self, *, start_id: str) -> None:
        try:
            await self.redis.xgroup_create(self.queue_name, self.group, id=start_id, mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    # -- consuming ------------------------------------------------------------------------------------------
    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        self._background = [asyncio.create_task(self._every(i, job)) for i, job in self._timers()]
        backoff = 0.5
        try:
            while not self.shutdown_control.stopping:
                free = await self._take_free_slots()
                try:
                    admitted = await self._fetch_and_start(free)
                    backoff = 0.5
                except (*REDIS_ERRORS, RedisError) as error:
                    self._release(free)
                    logger.warning(
                        "Redis unavailable while fetching tasks (%r); retrying in %.1f s", error, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self._release(free - len(admitted))
                for message in admitted:
                    yield message
        finally:
            for task in self._background:
                task.cancel()

    def _timers(self) -> list[PeriodicJob]:
        lease_interval = max(0.5, self.config.visibility_timeout_seconds / 3)
        return [
            (lease_interval, self._renew_leases),
            (0.5, self._move_due_delayed),
            (HEARTBEAT_SECONDS, self._heartbeat),
            (TRIM_INTERVAL_SECONDS, self._trim),
            *self.periodic_jobs,
        ]

    async def _take_free_slots(self) -> int:
        await self._slots.acquire()
        taken = 1
        while not self._slots.locked():
            await self._slots.acquire()
            taken += 1
        return taken

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    async def _fetch_and_start(self, free: int) -> list[AckableMessage]:
        if time.monotonic() >= self._next_reclaim:
            self._next_reclaim = time.monotonic() + self.config.reclaim_interval_seconds
            reclaimed = await self._group_call(self._reclaim(free))
            if reclaimed:
                return await self._start_reclaimed(reclaimed)
        return self._start_fresh(await self._group_call(self._read(free)))

    async def _group_call(self, call: Awaitable[list[Entry]]) -> list[Entry]:
        """Run a consumer-group read; a vanished group (Redis lost its data) is recreated from the start."""
        try:
            return await call
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
        logger.error(
            "the task queue's consumer group is gone: Redis lost its data (restarted empty or failed over). "
            "Recreating it from the stream's start; statuses of earlier tasks are lost"
        )
        await self._create_group(start_id="0")
        await self.workers.note_data_loss()
        return []

    async def _read(self, count: int) -> list[Entry]:
        fetched: (
            list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None
        ) = await self.redis.xreadgroup(
            self.group, self.consumer_name, {self.queue_name: ">"}, count=count, block=READ_BLOCK_MS
        )  # type: ignore[assignment]  # the stubs type the reply loosely
        return [(text(msg_id), fields) for _, messages in fetched or [] for msg_id, fields in messages]

    async def _reclaim(self, count: int) -> list[Entry]:
        """Claim messages idle past the visibility timeout (their worker died or handed them back)."""
        result = await self.redis.xautoclaim(
            self.queue_name,
            self.group,
            self.consumer_name,
            min_idle_time=int(self.config.visibility_timeout_seconds * 1000),
            start_id="0-0",
            count=count,
        )
        messages: list[tuple[bytes, dict[bytes, bytes] | None]] = result[1]
        claimed = [(text(msg_id), fields) for msg_id, fields in messages if fields]
        if claimed:
            logger.info("reclaimed %d task(s) whose worker stopped before finishing", len(claimed))
        return claimed

    def _start_fresh(self, entries: list[Entry]) -> list[AckableMessage]:
        """Hand new messages to the receiver at once; their start is recorded meanwhile, in one trip."""
        parsed = [(msg_id, fields, self._parse(fields)) for msg_id, fields in entries]
        known = [msg for _, _, msg in parsed if msg is not None]
        if known:
            batch = asyncio.ensure_future(
                self.statuses.start_many([(m.task_id, m.task_name, False) for m in known], max_attempts=None)
            )
            for index, msg in enumerate(known):
                self.deliveries.starts[msg.task_id] = (batch, index)
        return [self._deliver(msg_id, fields, msg) for msg_id, fields, msg in parsed]

    async def _start_reclaimed(self, entries: list[Entry]) -> list[AckableMessage]:
        """Messages whose worker died: check before running again (cancelled meanwhile, or lost too often)."""
        parsed = [(msg_id, fields, self._parse(fields)) for msg_id, fields in entries]
        runnable = [(msg_id, fields, msg) for msg_id, fields, msg in parsed if msg is not None]
        outcomes = await self.statuses.start_many(
            [(msg.task_id, msg.task_name, True) for _, _, msg in runnable],
            max_attempts=self.config.max_attempts,
        )
        admitted = [self._deliver(msg_id, fields, None) for msg_id, fields, msg in parsed if msg is None]
        for (msg_id, fields, msg), outcome in zip(runnable, outcomes, strict=True):
            if outcome == START_CANCELLED:
                logger.info("dropping task %s: it was cancelled while its worker was gone", msg.task_id)
                await self._ack(msg_id)
            elif outcome == START_LOST_TOO_OFTEN:
                await self._give_up(msg_id, fields[b"data"], msg)
            else:
                recorded: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
                recorded.set_result([outcome])
                self.deliveries.starts[msg.task_id] = (recorded, 0)
                admitted.append(self._deliver(msg_id, fields, msg))
        return admitted

    def _parse(self, fields: dict[bytes, bytes]) -> TaskiqMessage | None:
        try:
            return self.formatter.loads(fields[b"data"])
        except Exception:  # the receiver reports a message it cannot parse, and acknowledges it
            return None

    def _deliver(self, msg_id: str, fields: dict[bytes, bytes], msg: TaskiqMessage | None) -> AckableMessage:
        task_id = msg.task_id if msg is not None else ""
        self.deliveries.running[msg_id] = Delivery(self.queue_name, self.group, msg_id, task_id)
        if task_id:
            self.deliveries.by_task[task_id] = msg_id
        return AckableMessage(data=fields[b"data"], ack=self._acker(msg_id))

    async def _give_up(self, msg_id: str, data: bytes, msg: TaskiqMessage) -> None:
        logger.error("task %s: its worker died on every allowed attempt; giving up", msg.task_id)
        if self.on_lost_too_often is not None:
            await self.on_lost_too_often(data, self.config.max_attempts)
        await self._ack(msg_id)

    def _acker(self, msg_id: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                if msg_id in self.deliveries.settled:
                    self.deliveries.settled.discard(msg_id)
                else:
                    await self._ack(msg_id)
            finally:
                if self.deliveries.forget(msg_id) is not None:
                    self._slots.release()

        return ack

    async def _ack(self, msg_id: str) -> None:
        for attempt in range(5):
            try:
                await self.redis.xack(self.queue_name, self.group, msg_id)
                return
            except REDIS_ERRORS as error:
                # Unacknowledged, the task would run again after the visibility timeout: harmless (idempotent
                # writes) but wasteful, so try a little longer before giving up.
                logger.warning("could not acknowledge %s (%r), attempt %d", msg_id, error, attempt + 1)
                await asyncio.sleep(0.5 * 2**attempt)

    # -- timers ---------------------------------------------------------------------------------------------
    async def _renew_leases(self) -> None:
        ids: list[Any] = list(self.deliveries.running)
        if ids:
            await self.redis.xclaim(
                self.queue_name, self.group, self.consumer_name, min_idle_time=0, message_ids=ids, justid=True
            )

    async def _move_due_delayed(self) -> None:
        await self.redis.eval(
            _MOVE_DUE_SCRIPT, 2, self.delayed_key, self.queue_name, str(time.time()), "100", KEY_PREFIX
        )

    async def _trim(self) -> None:
        trimmed = await trim_acknowledged(self.redis, self.queue_name)
        if trimmed:
            logger.debug("trimmed %d acknowledged messages from %s", trimmed, self.queue_name)

    async def _heartbeat(self) -> None:
        await self.workers.beat(self.consumer_name, running=len(self.deliveries.running))

    @staticmethod
    async def _every(interval: float, job: Callable[[], Awaitable[Any]]) -> None:
        while True:
            try:
                await job()
            except (*REDIS_ERRORS, RedisError) as error:
                logger.warning("%s failed: %r", getattr(job, "__name__", job), error)
            await asyncio.sleep(interval)

    # -- shutdown -------------------------------------------------------------------------------------------
    async def hand_back_in_flight(self) -> int:
        """Make this worker's unfinished messages immediately claimable by other workers."""
        ids: list[Any] = list(self.deliveries.running)
        if not ids:
            return 0
        idle_ms = int(self.config.visibility_timeout_seconds * 1000) + 1000
        await self.redis.xclaim(
            self.queue_name,
            self.group,
            self.consumer_name,
            min_idle_time=0,
            message_ids=ids,
            idle=idle_ms,
            justid=True,
        )
        self.deliveries.running.clear()
        return len(ids)

    async def shutdown(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self.hand_back_in_flight()
        await super().shutdown()
