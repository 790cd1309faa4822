"""Chained tasks: "when this task succeeds, enqueue that one" (a schedule's collect → enrich → sync).

A chain is a list of steps (task name and arguments). `start` enqueues the first step with the no-duplicate
rule (an identical task already queued or running is joined, not doubled) and keeps the rest in Redis under
that task's id. The scheduler process calls `advance` every CHAIN_POLL_SECONDS: for each task some chain
waits on, a final status takes the chains atomically (so two schedulers continue a chain once): after a
success each one's next step is started the same way; after a failure or a cancel they are dropped (and
logged), since the next step depends on this one. A task that hands its work to a follow-up (a quota stop, a
time budget) hands its chains over first (`hand_over`, before its own success is written), so the next step
waits for the work, not for its first part. Kept as long as task statuses (TASK_RESULT_TTL_SECONDS).

The scheduler, not the workers' lifecycle middleware, advances chains: a task's end stays one Redis round
trip (docs/design.md), and chains, like schedules, belong to the scheduler. A step starts at most
CHAIN_POLL_SECONDS after the one before ended. Redis only: schedules, the one user of chains, need Redis.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis
from taskiq import AsyncBroker

from app.runtime.enqueue import Enqueuer
from app.runtime.task_status import FINISHED_STATES, StatusStore, TaskState

logger = logging.getLogger(__name__)

KEY_PREFIX = "cratedigger:chain-after:"
CHAIN_POLL_SECONDS = 2.0


class ChainStep(BaseModel):
    task_name: str
    arguments: dict[str, Any]


class Chains:
    def __init__(
        self,
        redis: Redis,
        *,
        statuses: StatusStore,
        ttl_seconds: int,
        broker: AsyncBroker,
        enqueuer: Enqueuer,
    ) -> None:
        self._redis = redis
        self._statuses = statuses
        self._ttl = ttl_seconds
        self._broker = broker
        self._enqueuer = enqueuer

    async def start(self, steps: Sequence[ChainStep]) -> tuple[str, bool]:
        """Enqueue the first step (or join the identical active task) and keep the rest after it; returns the
        first step's task id and whether it was newly enqueued."""
        first, rest = steps[0], list(steps[1:])
        task = self._broker.find_task(first.task_name)
        if task is None:
            raise LookupError(f"chain step names unknown task {first.task_name!r}")
        task_id, created = await self._enqueuer.enqueue_once(task, **first.arguments)
        if rest:
            await self._keep(task_id, rest)
            # A joined task may have ended before the chain was kept: then nobody else would take it.
            status = await self._statuses.get(task_id)
            if status is not None and status.state in FINISHED_STATES:
                await self.finished(task_id, state=status.state)
        return task_id, created

    async def _keep(self, task_id: str, chain: list[ChainStep]) -> None:
        key = KEY_PREFIX + task_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps([step.model_dump() for step in chain]))
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def _take(self, task_id: str) -> list[list[ChainStep]]:
        key = KEY_PREFIX + task_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = await pipe.execute()
        return [[ChainStep.model_validate(step) for step in json.loads(chain)] for chain in raw]

    async def finished(self, task_id: str, *, state: TaskState) -> None:
        """Continue (success) or drop (failure, cancel) the chains waiting on `task_id`."""
        for chain in await self._take(task_id):
            if state != TaskState.SUCCESS:
                logger.warning(
                    "task %s ended %s: the chained %s not started",
                    task_id,
                    state,
                    [s.task_name for s in chain],
                )
                continue
            next_id, created = await self.start(chain)
            logger.info(
                "task %s succeeded: chained %s %s as task %s",
                task_id,
                chain[0].task_name,
                "enqueued" if created else "joined the active",
                next_id,
            )

    async def advance(self) -> None:
        """Continue or drop the chains of every task that has ended (a status not written yet, or expired: left
        to its key's expiry)."""
        async for key in self._redis.scan_iter(match=KEY_PREFIX + "*", count=500):
            task_id = (key.decode() if isinstance(key, bytes) else str(key)).removeprefix(KEY_PREFIX)
            status = await self._statuses.get(task_id)
            if status is not None and status.state in FINISHED_STATES:
                await self.finished(task_id, state=status.state)

    async def hand_over(self, from_task_id: str, to_task_id: str) -> None:
        """`from_task_id` continues as `to_task_id`: its chains wait for the follow-up instead."""
        for chain in await self._take(from_task_id):
            await self._keep(to_task_id, chain)
