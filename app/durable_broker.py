"""Brokers that keep their promises: a task is delivered again until a worker finishes it, and never lost.

`DurableStreamBroker` builds on taskiq-redis's `RedisStreamBroker` (a Redis stream read by a consumer group,
acknowledged after the result is saved) and closes the gaps measured in its fetch loop:

- **Periodic reclaim.** Messages a dead worker had taken are claimed back (XAUTOCLAIM, idle longer than the
  visibility timeout) on a timer, not only after a new message arrives, so an idle queue strands nothing.
- **Leases.** Every message a worker is running has its idle time reset (XCLAIM … JUSTID) well within the
  visibility timeout, so a healthy long task is never reclaimed and run twice.
- **Concurrency and no read-ahead.** A worker reads a message only when one of its `WORKER_CONCURRENCY` slots
  is free, so nothing sits prefetched in a worker that cannot start it.
- **Survives Redis hiccups.** A timeout or lost connection in XREADGROUP is logged and retried with backoff
  instead of killing the worker process.
- **Delays.** A message labelled `delay` (retries with backoff, a Spotify quota pause) waits in a sorted set and
  is moved to the stream by an atomic script when due.
- **Cancellation.** A message whose task was cancelled while queued is acknowledged and dropped, never run.
- **Graceful shutdown.** SIGTERM stops reading; running tasks get `WORKER_SHUTDOWN_GRACE_SECONDS` to finish;
  what is left is handed back (its idle time set past the visibility timeout) so another worker takes it at once.

`DelayingInMemoryBroker` gives the embedded mode the same `delay` label and cancellation semantics in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from types import FrameType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, InMemoryBroker
from taskiq.message import BrokerMessage
from taskiq_redis import RedisStreamBroker

from app.status import StatusStore

logger = logging.getLogger(__name__)

WORKER_KEY_PREFIX = "cratedigger:worker:"
HEARTBEAT_SECONDS = 10.0

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)

# Moves due delayed messages into the stream atomically, so two workers never move one twice.
_MOVE_DUE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'data', member)
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""


def message_delay(message: BrokerMessage) -> float:
    try:
        return max(0.0, float(message.labels.get("delay") or 0))
    except (TypeError, ValueError):
        return 0.0


class DurableStreamBroker(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        status_store: StatusStore,
        visibility_timeout_seconds: float,
        reclaim_interval_seconds: float,
        concurrency: int,
        shutdown_grace_seconds: float,
        queue_name: str,
        consumer_group_name: str,
        **connection_kwargs: Any,
    ) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name=consumer_group_name,
            idle_timeout=int(visibility_timeout_seconds * 1000),
            # A worker killed while holding taskiq-redis's reclaim lock must not block reclaiming for good.
            unacknowledged_lock_timeout=max(5.0, reclaim_interval_seconds * 2),
            xread_block=1000,
            xread_count=1,
            **connection_kwargs,
        )
        self.status_store = status_store
        self.visibility_timeout = visibility_timeout_seconds
        self.reclaim_interval = reclaim_interval_seconds
        self.lease_interval = max(0.5, visibility_timeout_seconds / 3)
        self.concurrency = concurrency
        self.shutdown_grace = shutdown_grace_seconds
        self.delayed_key = f"{queue_name}:delayed"
        self.max_deliveries: int | None = None
        # Called for a reclaimed message whose task already started `max_deliveries` times and never finished
        # (its worker kept dying): the lifecycle middleware fails it into a dead letter instead.
        self.on_lost_too_often: Callable[[bytes, int], Awaitable[None]] | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: dict[bytes, str] = {}  # message id → stream, for leases and hand-back
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- producing -----------------------------------------------------------------------------------------
    async def kick(self, message: BrokerMessage) -> None:
        delay = message_delay(message)
        if delay <= 0:
            await super().kick(message)
            return
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.zadd(self.delayed_key, {message.message: time.time() + delay})

    # -- consuming ------------------------------------------------------------------------------------------
    async def startup(self) -> None:
        await super().startup()
        if self.is_worker_process:
            self._install_shutdown_handler()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        self._background = [
            asyncio.create_task(self._every(self.lease_interval, self._renew_leases), name="lease-renewal"),
            asyncio.create_task(self._every(0.5, self._move_due_delayed), name="delayed-mover"),
            asyncio.create_task(
                self._every(HEARTBEAT_SECONDS, self._heartbeat, at_once=True), name="heartbeat"
            ),
        ]
        reclaimed: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        reclaimed_now: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        next_reclaim = 0.0
        backoff = 0.5
        try:
            while not self._stopping:
                await self._slots.acquire()
                delivered = False
                try:
                    while not delivered and not self._stopping:
                        try:
                            if not reclaimed and time.monotonic() >= next_reclaim:
                                reclaimed = await self._reclaim()
                                reclaimed_now = list(reclaimed)
                                next_reclaim = time.monotonic() + self.reclaim_interval
                            entry = reclaimed.pop(0) if reclaimed else await self._read_one()
                            backoff = 0.5
                        except (*REDIS_ERRORS, RedisError) as error:
                            logger.warning(
                                "Redis unavailable while fetching tasks (%r); retrying in %.1f s",
                                error,
                                backoff,
                            )
                            await asyncio.sleep(backoff)
                            backoff = min(backoff * 2, 5.0)
                            continue
                        if entry is None:
                            continue
                        stream, msg_id, fields = entry
                        if await self._drop_if_cancelled(stream, msg_id, fields):
                            continue
                        if entry in reclaimed_now and await self._give_up_if_lost_too_often(
                            stream, msg_id, fields
                        ):
                            continue
                        self._in_flight[msg_id] = stream
                        delivered = True
                        yield AckableMessage(data=fields[b"data"], ack=self._acker(stream, msg_id))
                finally:
                    if not delivered:
                        self._slots.release()
        finally:
            for task in self._background:
                task.cancel()

    async def _read_one(self) -> tuple[str, bytes, dict[bytes, bytes]] | None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            fetched = await redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: ">"},
                block=self.block,
                count=1,
                noack=False,
            )
        entries: list[Any] = list(fetched or [])  # [(stream, [(id, fields), …])]
        for stream, messages in entries:
            for msg_id, fields in messages:
                return _text(stream), msg_id, fields
        return None

    async def _reclaim(self) -> list[tuple[str, bytes, dict[bytes, bytes]]]:
        """Claim messages idle past the visibility timeout (their worker died or handed them back)."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            result = await redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=int(self.visibility_timeout * 1000),
                start_id="0-0",
                count=self.concurrency,
            )
        claimed = [(self.queue_name, msg_id, fields) for msg_id, fields in result[1] if fields]
        if claimed:
            logger.info("reclaimed %d task(s) whose worker stopped before finishing", len(claimed))
        return claimed

    async def _drop_if_cancelled(self, stream: str, msg_id: bytes, fields: dict[bytes, bytes]) -> bool:
        try:
            task_id = self.formatter.loads(fields[b"data"]).task_id
        except Exception:  # a message we cannot parse is the receiver's to report
            return False
        if not await self.status_store.is_cancelled(task_id):
            return False
        logger.info("dropping task %s: it was cancelled while queued", task_id)
        await self._ack(stream, msg_id)
        return True

    async def _give_up_if_lost_too_often(
        self, stream: str, msg_id: bytes, fields: dict[bytes, bytes]
    ) -> bool:
        if self.max_deliveries is None or self.on_lost_too_often is None:
            return False
        try:
            task_id = self.formatter.loads(fields[b"data"]).task_id
        except Exception:
            return False
        status = await self.status_store.get(task_id)
        if status is None or status.attempt < self.max_deliveries:
            return False
        logger.error(
            "task %s was started %d times and its worker never finished it; giving up",
            task_id,
            status.attempt,
        )
        await self.on_lost_too_often(fields[b"data"], status.attempt)
        await self._ack(stream, msg_id)
        return True

    def _acker(self, stream: str, msg_id: bytes) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            try:
                await self._ack(stream, msg_id)
            finally:
                if self._in_flight.pop(msg_id, None) is not None:
                    self._slots.release()

        return ack

    async def _ack(self, stream: str, msg_id: bytes) -> None:
        for attempt in range(5):
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xack(stream, self.consumer_group_name, msg_id)
                return
            except REDIS_ERRORS as error:
                # Unacknowledged, the task would run again after the visibility timeout: harmless (idempotent
                # writes) but wasteful, so try a little longer before giving up.
                logger.warning("could not acknowledge %s (%r), attempt %d", msg_id, error, attempt + 1)
                await asyncio.sleep(0.5 * 2**attempt)

    async def _renew_leases(self) -> None:
        by_stream: dict[str, list[bytes | str | int | memoryview[int]]] = {}
        for msg_id, stream in list(self._in_flight.items()):
            by_stream.setdefault(stream, []).append(msg_id)
        async with Redis(connection_pool=self.connection_pool) as redis:
            for stream, ids in by_stream.items():
                await redis.xclaim(
                    stream,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=0,
                    message_ids=ids,
                    justid=True,
                )

    async def _move_due_delayed(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.eval(_MOVE_DUE_SCRIPT, 2, self.delayed_key, self.queue_name, str(time.time()), "100")

    async def _heartbeat(self) -> None:
        """Tell /health this worker is alive (and how busy), for a little longer than the next beat."""
        beat = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "running": len(self._in_flight)})
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.set(WORKER_KEY_PREFIX + self.consumer_name, beat, ex=int(HEARTBEAT_SECONDS * 3))

    async def queue_depth(self) -> dict[str, int]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            groups = await redis.xinfo_groups(self.queue_name)
            delayed = await redis.zcard(self.delayed_key)
        group = next((g for g in groups if _text(g["name"]) == self.consumer_group_name), None)
        return {
            "waiting": int(group.get("lag") or 0) if group else 0,
            "pending": int(group["pending"]) if group else 0,
            "delayed": int(delayed),
        }

    async def seen_workers(self) -> list[dict[str, Any]]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            keys = [key async for key in redis.scan_iter(match=WORKER_KEY_PREFIX + "*")]
            values = await redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]

    @staticmethod
    async def _every(interval: float, job: Callable[[], Awaitable[None]], *, at_once: bool = False) -> None:
        if at_once:
            with contextlib.suppress(*REDIS_ERRORS, RedisError):
                await job()
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except (*REDIS_ERRORS, RedisError) as error:
                logger.warning("%s failed: %r", getattr(job, "__name__", job), error)

    # -- shutdown ---------------------------------------------------------------------------------------------
    def _install_shutdown_handler(self) -> None:
        """Wrap taskiq's handlers: SIGTERM reaches a worker directly, SIGINT when the `taskiq worker`
        parent process forwards a SIGTERM it received (docker stop)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def on_signal(
                received: int, frame: FrameType | None, previous: Callable[..., Any] | int | None = previous
            ) -> None:
                if not self._stopping:
                    self._stopping = True
                    loop.call_soon_threadsafe(self._start_grace_timer, loop)
                if callable(previous):
                    previous(received, frame)

            signal.signal(signum, on_signal)

    def _start_grace_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        logger.info(
            "shutting down: %d running task(s) get %.0f s to finish",
            len(self._in_flight),
            self.shutdown_grace,
        )
        loop.call_later(self.shutdown_grace, lambda: asyncio.ensure_future(self._grace_expired()))

    async def _grace_expired(self) -> None:
        if not self._in_flight:
            return
        count = await self.hand_back_in_flight()
        logger.warning("grace period over: %d unfinished task(s) handed back to the queue; exiting", count)
        os._exit(0)

    async def hand_back_in_flight(self) -> int:
        """Make this worker's unfinished messages immediately claimable by other workers."""
        ids: list[bytes | str | int | memoryview[int]] = list(self._in_flight)
        if not ids:
            return 0
        idle_ms = int(self.visibility_timeout * 1000) + 1000
        async with Redis(connection_pool=self.connection_pool) as redis:
            await redis.xclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=0,
                message_ids=ids,
                idle=idle_ms,
                justid=True,
            )
        self._in_flight.clear()
        return len(ids)

    async def shutdown(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self.hand_back_in_flight()
        await super().shutdown()


class DelayingInMemoryBroker(InMemoryBroker):
    """Embedded mode: in-process tasks, with the `delay` label and cancellation of delayed tasks honoured."""

    def __init__(self, *, status_store: StatusStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_store = status_store
        self._delayed: set[asyncio.Task[None]] = set()

    async def kick(self, message: BrokerMessage) -> None:
        delay = message_delay(message)
        if delay <= 0:
            await super().kick(message)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            if not await self.status_store.is_cancelled(message.task_id):
                await super(DelayingInMemoryBroker, self).kick(message)

        task = asyncio.create_task(later())
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def shutdown(self) -> None:
        for task in self._delayed:
            task.cancel()
        await super().shutdown()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
