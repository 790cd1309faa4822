"""Chained tasks (a schedule's collect → enrich → sync) kept in the real Redis: each step starts when the one
before succeeded, a failure stops the chain, a follow-up task inherits it, and joining a task that already
ended does not lose it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask

from app.runtime.chains import Chains, ChainStep
from app.runtime.duplicate_claims import DuplicateClaims, MemoryClaimValues
from app.runtime.enqueue import Enqueuer
from app.runtime.memory_status_store import MemoryStatusStore
from app.runtime.task_status import ErrorInfo, TaskState


class RecordingEnqueuer(Enqueuer):
    """Enqueues nothing: records what would be, in order, under ids t1, t2, …; `joined` names ids to answer
    as the active duplicate instead."""

    def __init__(self, statuses: MemoryStatusStore) -> None:
        super().__init__(DuplicateClaims(MemoryClaimValues(statuses.claims), statuses=statuses))
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.joined: dict[str, str] = {}

    async def enqueue_once(self, task: AsyncTaskiqDecoratedTask[Any, Any], **kwargs: Any) -> tuple[str, bool]:
        if task.task_name in self.joined:
            return self.joined[task.task_name], False
        self.sent.append((task.task_name, kwargs))
        return f"t{len(self.sent)}", True


class NamedTasks:
    def find_task(self, name: str) -> Any:
        return None if name == "gone" else type("Task", (), {"task_name": name})()


def steps(*names: str) -> list[ChainStep]:
    return [ChainStep(task_name=name, arguments={"step": name}) for name in names]


@pytest.fixture
async def chains(redis_url: str) -> AsyncIterator[tuple[Chains, RecordingEnqueuer, MemoryStatusStore]]:
    redis = Redis.from_url(redis_url)
    statuses = MemoryStatusStore(ttl_seconds=600)
    enqueuer = RecordingEnqueuer(statuses)
    found = Chains(
        redis, statuses=statuses, ttl_seconds=600, broker=cast(AsyncBroker, NamedTasks()), enqueuer=enqueuer
    )
    enqueuer.chains = found
    try:
        yield found, enqueuer, statuses
    finally:
        await redis.aclose()


async def test_each_step_starts_when_the_one_before_succeeded(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore],
) -> None:
    chain, enqueuer, _ = chains
    first, created = await chain.start(steps("collect", "enrich", "sync"))
    assert (first, created) == ("t1", True) and [name for name, _ in enqueuer.sent] == ["collect"]
    await chain.finished("t1", state=TaskState.SUCCESS)
    assert enqueuer.sent[-1] == ("enrich", {"step": "enrich"})
    await chain.finished("t2", state=TaskState.SUCCESS)
    assert [name for name, _ in enqueuer.sent] == ["collect", "enrich", "sync"]
    await chain.finished("t3", state=TaskState.SUCCESS)
    await chain.finished("t1", state=TaskState.SUCCESS)  # a redelivered end changes nothing: taken once
    assert len(enqueuer.sent) == 3


@pytest.mark.parametrize("state", [TaskState.FAILURE, TaskState.CANCELLED])
async def test_a_step_that_did_not_succeed_stops_the_chain(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore], state: TaskState
) -> None:
    chain, enqueuer, _ = chains
    await chain.start(steps("collect", "enrich"))
    await chain.finished("t1", state=state)
    await chain.finished("t1", state=TaskState.SUCCESS)
    assert [name for name, _ in enqueuer.sent] == ["collect"]


async def test_a_follow_up_task_carries_the_chain(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore],
) -> None:
    chain, enqueuer, _ = chains
    await chain.start(steps("enrich", "sync"))
    await chain.hand_over("t1", "resumed-after-quota")
    await chain.finished("t1", state=TaskState.SUCCESS)  # the first part ended: not yet
    assert [name for name, _ in enqueuer.sent] == ["enrich"]
    await chain.finished("resumed-after-quota", state=TaskState.SUCCESS)
    assert [name for name, _ in enqueuer.sent] == ["enrich", "sync"]


async def test_joining_a_task_that_already_ended_goes_on_at_once(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore],
) -> None:
    chain, enqueuer, statuses = chains
    await statuses.mark_queued("active-collect", task_name="collect", arguments={})
    await statuses.finish("active-collect", result={}, release_claim=None, delivery=None)
    enqueuer.joined["collect"] = "active-collect"
    first, created = await chain.start(steps("collect", "enrich"))
    assert (first, created) == ("active-collect", False)
    assert [name for name, _ in enqueuer.sent] == ["enrich"]


async def test_advancing_continues_what_succeeded_drops_what_failed_and_waits_for_the_rest(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore],
) -> None:
    """What the scheduler does every CHAIN_POLL_SECONDS."""
    chain, enqueuer, statuses = chains
    for name in ("collect-a", "collect-b", "collect-c"):
        await chain.start(steps(name, f"sync-after-{name}"))  # t1, t2, t3
    for task_id in ("t1", "t2", "t3"):
        await statuses.mark_queued(task_id, task_name="collect", arguments={})
    await statuses.finish("t1", result={}, release_claim=None, delivery=None)
    await statuses.mark_failure("t2", error=ErrorInfo(type="PermanentSourceError", message="gone"))
    await chain.advance()
    await chain.advance()  # taken once: nothing more
    assert [name for name, _ in enqueuer.sent] == [
        "collect-a",
        "collect-b",
        "collect-c",
        "sync-after-collect-a",
    ]
    await statuses.finish("t3", result={}, release_claim=None, delivery=None)
    await chain.advance()
    assert enqueuer.sent[-1][0] == "sync-after-collect-c" and len(enqueuer.sent) == 5


async def test_an_unknown_task_is_refused_before_anything_starts(
    chains: tuple[Chains, RecordingEnqueuer, MemoryStatusStore],
) -> None:
    chain, enqueuer, _ = chains
    with pytest.raises(LookupError, match="gone"):
        await chain.start(steps("gone", "sync"))
    assert enqueuer.sent == []
