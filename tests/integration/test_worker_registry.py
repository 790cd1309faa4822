"""Queue depth for /metrics, on real Redis: a message deleted by a cancel is not counted as waiting."""

from __future__ import annotations

from redis.asyncio import Redis

from app.runtime.worker_registry import WorkerRegistry

STREAM, GROUP = "test:tasks", "test-workers"


async def test_waiting_counts_unread_messages_left_in_the_stream(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        registry = WorkerRegistry(
            redis, queue_name=STREAM, consumer_group=GROUP, delayed_key=f"{STREAM}:delayed", memory_seconds=60
        )
        await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
        ids = [await redis.xadd(STREAM, {"data": str(n)}) for n in range(4)]
        await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=1)  # one taken, not yet acknowledged
        await redis.xdel(STREAM, ids[3])  # one cancelled while queued
        await redis.zadd(f"{STREAM}:delayed", {"later": 1.0})
        assert await registry.queue_depth() == {"waiting": 2, "pending": 1, "delayed": 1}
    finally:
        await redis.aclose()
