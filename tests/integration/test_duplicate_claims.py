"""Duplicate-request claims on real Redis and in process memory: claimed once, handed to a follow-up task only
by its holder, released only by its holder, and never outliving the status of the task they name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.runtime.duplicate_claims import DuplicateClaims, MemoryClaimValues, RedisClaimValues
from app.runtime.memory_status_store import MemoryStatusStore
from app.runtime.redis_connection import text
from app.runtime.redis_status_store import RedisStatusStore
from app.runtime.task_status import StatusStore

STREAM, GROUP = "test:tasks", "test-workers"


@pytest.fixture(params=["redis", "memory"])
async def stores(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[tuple[StatusStore, DuplicateClaims]]:
    if request.param == "memory":
        memory = MemoryStatusStore(ttl_seconds=600)
        yield memory, DuplicateClaims(MemoryClaimValues(memory.claims), statuses=memory)
        return
    redis = Redis.from_url(redis_url)
    try:
        statuses = RedisStatusStore(redis, ttl_seconds=600, stream=STREAM, group=GROUP)
        yield statuses, DuplicateClaims(RedisClaimValues(redis), statuses=statuses)
    finally:
        await redis.aclose()


async def test_a_claim_passes_to_the_follow_up_and_is_freed_by_it(
    stores: tuple[StatusStore, DuplicateClaims],
) -> None:
    statuses, claims = stores
    await statuses.mark_queued("first", task_name="enrich_spotify_data", arguments={})
    assert await claims.claim("fp", "first") is None
    await claims.confirm("fp", "first")
    assert await claims.claim("fp", "repeat") == "first"

    # Only the holder can hand the claim over.
    assert await claims.hand_over("fp", from_task_id="someone-else", to_task_id="x") is False
    assert await claims.hand_over("fp", from_task_id="first", to_task_id="follow-up") is True
    await statuses.mark_queued("follow-up", task_name="enrich_spotify_data", arguments={})
    assert await claims.claim("fp", "repeat") == "follow-up"

    await claims.release("fp", "first")  # the first task finishing must not free the follow-up's claim
    assert await claims.claim("fp", "repeat") == "follow-up"
    await claims.release("fp", "follow-up")
    assert await claims.claim("fp", "new") is None


async def test_a_pending_claim_is_honoured_but_a_claim_whose_status_is_gone_is_taken_over(
    stores: tuple[StatusStore, DuplicateClaims],
) -> None:
    _, claims = stores
    assert await claims.claim("fp", "being-enqueued") is None
    # No status yet, but the claim is still pending: the request is being enqueued right now.
    assert await claims.claim("fp", "repeat") == "being-enqueued"
    await claims.confirm("fp", "being-enqueued")
    # Confirmed, yet its task has no status (expired, or Redis lost it): the claim is stale.
    assert await claims.claim("fp", "after-loss") is None
    assert await claims.claim("fp", "repeat") == "after-loss"


async def test_finishing_a_task_frees_its_claim_in_the_same_write(
    stores: tuple[StatusStore, DuplicateClaims],
) -> None:
    statuses, claims = stores
    await statuses.mark_queued("t1", task_name="collect_bp_tracks", arguments={})
    assert await claims.claim("fp", "t1") is None
    await claims.confirm("fp", "t1")
    assert await statuses.start("t1", task_name="collect_bp_tracks") == 1
    state = await statuses.finish("t1", result={"ok": 1}, release_claim=claims.key("fp"), delivery=None)
    assert state == "success"
    assert await claims.claim("fp", "t2") is None
    status = await statuses.get("t1")
    assert status is not None and status.result == {"ok": 1} and status.finished_at is not None


async def test_cancel_ends_a_queued_task_at_once_and_asks_a_running_one_to_stop(
    stores: tuple[StatusStore, DuplicateClaims],
) -> None:
    statuses, _ = stores
    await statuses.mark_queued("queued", task_name="collect_bp_tracks", arguments={})
    assert await statuses.cancel("queued") == "cancelled"
    cancelled = await statuses.get("queued")
    assert cancelled is not None and cancelled.state == "cancelled" and cancelled.finished_at is not None
    # A message of it that a dead worker had taken is not run again when reclaimed.
    assert await statuses.start("queued", task_name="collect_bp_tracks", reclaimed=True) == -1

    await statuses.mark_queued("running", task_name="collect_bp_tracks", arguments={})
    assert await statuses.start("running", task_name="collect_bp_tracks") == 1
    assert await statuses.cancel("running") == "stopping"
    assert await statuses.cancel_check("running")() is True
    assert (
        await statuses.finish("running", result={"pages": 2}, release_claim=None, delivery=None)
        == "cancelled"
    )
    assert await statuses.cancel("running") == "finished"
    assert await statuses.cancel("never-existed") == "unknown"

    # A reclaimed task that already started the allowed number of times is given up, not run again.
    await statuses.mark_queued("lost", task_name="collect_bp_tracks", arguments={})
    assert await statuses.start("lost", task_name="collect_bp_tracks") == 1
    assert await statuses.start("lost", task_name="collect_bp_tracks", reclaimed=True, max_attempts=1) == -2


async def test_cancel_deletes_a_queued_message_unless_a_worker_already_took_it(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        statuses = RedisStatusStore(redis, ttl_seconds=600, stream=STREAM, group=GROUP)
        await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
        for task_id in ("delivered", "still-queued"):
            await statuses.mark_queued(task_id, task_name="collect_bp_tracks", arguments={})
            message_id = await redis.xadd(STREAM, {"data": task_id})
            await statuses.write(task_id, message_id=text(message_id))
        await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=1)  # a worker takes the first message
        assert await statuses.cancel("delivered") == "stopping"  # it runs: it must stop at its next boundary
        assert await statuses.cancel("still-queued") == "cancelled"  # its message is deleted: it never runs
        assert await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=10) == []
    finally:
        await redis.aclose()
