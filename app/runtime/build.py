"""`build_runtime(settings)`: every part of the task machinery, wired through constructors.

`REDIS_URL` set: `DurableStreamBroker` on a Redis stream, statuses and claims in Redis, one connection pool
for all of them. Unset: an in-process broker for trying the service out on one machine; nothing survives a
restart, and start-up says so loudly. Building does no I/O: connections open on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from taskiq import AsyncBroker

from app.config import Settings
from app.runtime.chains import Chains
from app.runtime.cron_schedules import ScheduleStore
from app.runtime.dead_letter_outbox import DeadLetterOutbox, MemoryPendingLetters, RedisPendingLetters
from app.runtime.deliveries import Deliveries
from app.runtime.duplicate_claims import DuplicateClaims, MemoryClaimValues, RedisClaimValues
from app.runtime.enqueue import Enqueuer
from app.runtime.lifecycle import LifecycleMiddleware
from app.runtime.memory_broker import DelayingInMemoryBroker
from app.runtime.memory_status_store import MemoryStatusStore
from app.runtime.redis_connection import connect_redis
from app.runtime.redis_status_store import RedisStatusStore
from app.runtime.result_backend import StatusResultBackend
from app.runtime.stream_broker import DurableStreamBroker, StreamSettings
from app.runtime.task_status import StatusStore
from app.runtime.worker_registry import WorkerRegistry

QUEUE_NAME = "cratedigger:tasks"
CONSUMER_GROUP = "cratedigger-workers"
DEAD_LETTER_FLUSH_SECONDS = 5.0

NOT_DURABLE_WARNING = (
    "REDIS_URL is not set: using the in-process broker and in-memory task statuses. Tasks run inside this "
    "process and are NOT durable: a restart loses queued and running tasks and every status. Set REDIS_URL "
    "and run `taskiq worker app.worker:broker` for durable background work."
)


@dataclass
class Runtime:
    settings: Settings
    broker: AsyncBroker
    statuses: StatusStore
    claims: DuplicateClaims
    enqueuer: Enqueuer
    lifecycle: LifecycleMiddleware
    outbox: DeadLetterOutbox
    redis: Redis | None = None  # the process's one pool, shared with services (tokens, cooldowns)
    workers: WorkerRegistry | None = None
    schedules: ScheduleStore | None = None  # dynamic schedules live in Redis: none in embedded mode
    chains: Chains | None = None  # tasks started when another succeeds (schedules' steps): Redis only

    @property
    def durable(self) -> bool:
        return isinstance(self.broker, DurableStreamBroker)

    async def close(self) -> None:
        await self.statuses.close()
        if self.redis is not None:
            await self.redis.aclose()


def build_runtime(settings: Settings, *, redis: Redis | None = None) -> Runtime:
    """`redis`: a client to use instead of one on REDIS_URL (a benchmark counting round trips hands its own)."""
    if settings.redis_url or redis is not None:
        return _durable_runtime(settings, redis or connect_redis(str(settings.redis_url)))
    return _embedded_runtime(settings)


def _assemble(
    settings: Settings,
    *,
    broker: AsyncBroker,
    statuses: StatusStore,
    claims: DuplicateClaims,
    outbox: DeadLetterOutbox,
    deliveries: Deliveries | None,
    redis: Redis | None = None,
    workers: WorkerRegistry | None = None,
) -> Runtime:
    """What both modes share: the lifecycle middleware and the result backend on the broker."""
    lifecycle = LifecycleMiddleware(
        statuses=statuses,
        claims=claims,
        outbox=outbox,
        deliveries=deliveries,
        max_attempts=settings.task_max_attempts,
        retry_base_seconds=settings.task_retry_base_seconds,
        retry_max_seconds=settings.task_retry_max_seconds,
    )
    broker.with_result_backend(StatusResultBackend(statuses))
    broker.add_middlewares(lifecycle)
    enqueuer = Enqueuer(claims)
    chains = None
    if redis is not None:
        chains = Chains(
            redis,
            statuses=statuses,
            ttl_seconds=settings.task_result_ttl_seconds,
            broker=broker,
            enqueuer=enqueuer,
        )
        enqueuer.chains = chains
    return Runtime(
        settings=settings,
        broker=broker,
        statuses=statuses,
        claims=claims,
        enqueuer=enqueuer,
        lifecycle=lifecycle,
        outbox=outbox,
        redis=redis,
        workers=workers,
        schedules=ScheduleStore(redis) if redis is not None else None,
        chains=chains,
    )


def _durable_runtime(settings: Settings, redis: Redis) -> Runtime:
    statuses = RedisStatusStore(
        redis, ttl_seconds=settings.task_result_ttl_seconds, stream=QUEUE_NAME, group=CONSUMER_GROUP
    )
    claims = DuplicateClaims(RedisClaimValues(redis), statuses=statuses)
    outbox = DeadLetterOutbox(RedisPendingLetters(redis))
    deliveries = Deliveries()
    stream = StreamSettings(
        queue_name=QUEUE_NAME,
        consumer_group=CONSUMER_GROUP,
        visibility_timeout_seconds=settings.task_visibility_timeout_seconds,
        reclaim_interval_seconds=settings.task_reclaim_interval_seconds,
        concurrency=settings.worker_concurrency,
        shutdown_grace_seconds=settings.worker_shutdown_grace_seconds,
        max_attempts=settings.task_max_attempts,
    )
    workers = WorkerRegistry(
        redis,
        queue_name=QUEUE_NAME,
        consumer_group=CONSUMER_GROUP,
        delayed_key=f"{QUEUE_NAME}:delayed",
        memory_seconds=settings.task_result_ttl_seconds,
    )
    broker = DurableStreamBroker(
        redis=redis, statuses=statuses, workers=workers, deliveries=deliveries, settings=stream
    )
    runtime = _assemble(
        settings,
        broker=broker,
        statuses=statuses,
        claims=claims,
        outbox=outbox,
        deliveries=deliveries,
        redis=redis,
        workers=workers,
    )
    broker.on_lost_too_often = runtime.lifecycle.give_up_lost
    broker.periodic_jobs.append((DEAD_LETTER_FLUSH_SECONDS, outbox.flush_when_possible))
    return runtime


def _embedded_runtime(settings: Settings) -> Runtime:
    statuses = MemoryStatusStore(ttl_seconds=settings.task_result_ttl_seconds)
    claims = DuplicateClaims(MemoryClaimValues(statuses.claims), statuses=statuses)
    outbox = DeadLetterOutbox(MemoryPendingLetters())
    broker = DelayingInMemoryBroker(
        statuses=statuses, max_async_tasks=settings.worker_concurrency, propagate_exceptions=False
    )
    return _assemble(
        settings, broker=broker, statuses=statuses, claims=claims, outbox=outbox, deliveries=None
    )
