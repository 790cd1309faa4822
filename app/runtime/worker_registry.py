"""What /health and /metrics know about workers and the queue: heartbeats, queue depth, Redis data loss."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from typing import Any

from redis.asyncio import Redis

from app.runtime.redis_connection import text

WORKER_KEY_PREFIX = "cratedigger:worker:"
SCHEDULER_KEY_PREFIX = "cratedigger:scheduler:"
DATA_LOSS_KEY = "cratedigger:redis-data-lost-at"
HEARTBEAT_SECONDS = 10.0
# The scheduler re-reads its schedules once a minute (taskiq's update interval) and beats then.
SCHEDULER_HEARTBEAT_SECONDS = 60.0
MAX_COUNTED_WAITING = 10_000  # the metric says "at least" past this


class WorkerRegistry:
    def __init__(
        self, redis: Redis, *, queue_name: str, consumer_group: str, delayed_key: str, memory_seconds: int
    ) -> None:
        self._redis = redis
        self._memory_seconds = memory_seconds
        self._queue = queue_name
        self._group = consumer_group
        self._delayed = delayed_key

    async def beat(self, consumer_name: str, *, running: int) -> None:
        """Tell /health this worker is alive (and how busy), for a little longer than the next beat."""
        beat = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "running": running})
        await self._redis.set(WORKER_KEY_PREFIX + consumer_name, beat, ex=int(HEARTBEAT_SECONDS * 3))

    async def seen_workers(self) -> list[dict[str, Any]]:
        return await self._seen(WORKER_KEY_PREFIX)

    async def beat_scheduler(self) -> None:
        """Tell `cratedigger health scheduler` this host's scheduler is alive."""
        beat = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        ttl = int(SCHEDULER_HEARTBEAT_SECONDS * 3)
        await self._redis.set(f"{SCHEDULER_KEY_PREFIX}{socket.gethostname()}:{os.getpid()}", beat, ex=ttl)

    async def seen_schedulers(self) -> list[dict[str, Any]]:
        return await self._seen(SCHEDULER_KEY_PREFIX)

    async def _seen(self, prefix: str) -> list[dict[str, Any]]:
        keys = [key async for key in self._redis.scan_iter(match=prefix + "*")]
        values = await self._redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]

    async def queue_depth(self) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(self._queue)
            pipe.zcard(self._delayed)
            exists, delayed = await pipe.execute()
        groups = await self._redis.xinfo_groups(self._queue) if exists else []
        group = next((g for g in groups if text(g["name"]) == self._group), None)
        if group is None:
            return {"waiting": 0, "pending": 0, "delayed": int(delayed)}
        # Not the group's `lag`: it keeps counting an entry a cancel deleted.
        unread = await self._redis.xrange(
            self._queue, min=f"({text(group['last-delivered-id'])}", max="+", count=MAX_COUNTED_WAITING
        )
        return {"waiting": len(unread or []), "pending": int(group["pending"]), "delayed": int(delayed)}

    async def note_data_loss(self) -> None:
        """A worker found the consumer group gone: Redis restarted empty or failed over to an empty replica.
        Kept as long as statuses are (older statuses are gone), so /health can say when and what it means."""
        now = dt.datetime.now(dt.UTC).isoformat()
        await self._redis.set(DATA_LOSS_KEY, now, nx=True, ex=self._memory_seconds)

    async def data_lost_at(self) -> dt.datetime | None:
        value = await self._redis.get(DATA_LOSS_KEY)
        return dt.datetime.fromisoformat(text(value)) if value else None
