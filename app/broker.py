"""Builds the broker, result backend, status store and lifecycle middleware from settings.

`REDIS_URL` set: `DurableStreamBroker`, a Redis stream with acknowledged delivery (a task a worker took but
never finished is delivered again), periodic reclaim, leases, delays and graceful shutdown, plus a JSON result
backend. Unset: an in-process broker for trying the service out on one machine; nothing survives a restart, and
start-up says so loudly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import taskiq_fastapi
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AsyncBroker, TaskiqResult
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend

from app.config import Settings, get_settings
from app.durable_broker import DelayingInMemoryBroker, DurableStreamBroker
from app.middleware import LifecycleMiddleware
from app.status import MemoryHashes, RedisHashes, StatusStore

logger = logging.getLogger(__name__)

QUEUE_NAME = "cratedigger:tasks"
CONSUMER_GROUP = "cratedigger-workers"
# Redis calls must fail fast (a 503 from the API, a retry in the worker) rather than hang while Redis is away.
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
RESULT_SAVE_ATTEMPTS = 10  # about 30 s of waiting, as for status writes

NOT_DURABLE_WARNING = (
    "REDIS_URL is not set: using the in-process broker and in-memory task statuses. Tasks run inside this "
    "process and are NOT durable: a restart loses queued and running tasks and every status. Set REDIS_URL "
    "and run `taskiq worker app.worker:broker` for durable background work."
)


def redis_connection_kwargs() -> dict[str, Any]:
    """For every Redis client: fail fast while Redis is away, and retry once on a connection that a Redis
    restart left stale (refused connections fail at once, so an outage still answers quickly)."""
    return {
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "retry_on_error": [RedisConnectionError],
    }


def redis_client(settings: Settings) -> Redis:
    assert settings.redis_url
    return Redis.from_url(settings.redis_url, **redis_connection_kwargs())


class PatientResultBackend(RedisAsyncResultBackend[object]):
    """Result saving that waits out a short Redis outage.

    taskiq skips every `post_save` hook (our status, retry and dead-letter decisions) when saving the result
    fails, yet still acknowledges the message, so a task finishing during an outage would be left `running`.
    """

    async def set_result(self, task_id: str, result: TaskiqResult[object]) -> None:
        for attempt in range(RESULT_SAVE_ATTEMPTS):
            try:
                await super().set_result(task_id, result)
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                if attempt == RESULT_SAVE_ATTEMPTS - 1:
                    raise
                logger.warning("could not save the result of %s (%r); retrying", task_id, error)
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))


def build_broker(settings: Settings) -> tuple[AsyncBroker, StatusStore, LifecycleMiddleware]:
    broker: AsyncBroker
    if settings.redis_url:
        store = StatusStore(RedisHashes(redis_client(settings)), ttl_seconds=settings.task_result_ttl_seconds)
        result_backend = PatientResultBackend(
            settings.redis_url,
            serializer=JSONSerializer(),
            result_ex_time=settings.task_result_ttl_seconds,
            prefix_str="cratedigger:result",
            **redis_connection_kwargs(),
        )
        broker = DurableStreamBroker(
            settings.redis_url,
            status_store=store,
            visibility_timeout_seconds=settings.task_visibility_timeout_seconds,
            reclaim_interval_seconds=settings.task_reclaim_interval_seconds,
            concurrency=settings.worker_concurrency,
            shutdown_grace_seconds=settings.worker_shutdown_grace_seconds,
            queue_name=QUEUE_NAME,
            consumer_group_name=CONSUMER_GROUP,
            # XREADGROUP blocks 1 s, well inside the 5 s socket timeout.
            **redis_connection_kwargs(),
        ).with_result_backend(result_backend)
    else:
        store = StatusStore(MemoryHashes(), ttl_seconds=settings.task_result_ttl_seconds)
        broker = DelayingInMemoryBroker(
            status_store=store, max_async_tasks=settings.worker_concurrency, propagate_exceptions=False
        )
    lifecycle = LifecycleMiddleware(
        store,
        max_attempts=settings.task_max_attempts,
        retry_base_seconds=settings.task_retry_base_seconds,
        retry_max_seconds=settings.task_retry_max_seconds,
    )
    broker.add_middlewares(lifecycle)
    if isinstance(broker, DurableStreamBroker):
        broker.max_deliveries = settings.task_max_attempts
        broker.on_lost_too_often = lifecycle.give_up_lost
    return broker, store, lifecycle


settings = get_settings()
broker, status_store, lifecycle = build_broker(settings)
# Workers run the FastAPI lifespan, so tasks get the same engine, HTTP clients and settings as routes.
taskiq_fastapi.init(broker, "app.main:app")


def is_durable() -> bool:
    return isinstance(broker, DurableStreamBroker)
