"""The duplicate-request claim (StatusStore) on real Redis and in process memory: claimed once, handed to a
follow-up task only by its holder, released only by its holder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.status import MemoryHashes, RedisHashes, StatusStore


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[StatusStore]:
    if request.param == "memory":
        yield StatusStore(MemoryHashes(), ttl_seconds=600)
        return
    redis = Redis.from_url(redis_url)
    try:
        yield StatusStore(RedisHashes(redis), ttl_seconds=600)
    finally:
        await redis.aclose()


async def test_a_claim_passes_to_the_follow_up_and_is_freed_by_it(store: StatusStore) -> None:
    await store.mark_queued("first", task_name="enrich_spotify_data", arguments={})
    assert await store.claim_active("fp", "first") is None
    await store.confirm_active("fp", "first")
    assert await store.claim_active("fp", "repeat") == "first"

    # Only the holder can hand the claim over.
    assert await store.hand_over_active("fp", from_task_id="someone-else", to_task_id="x") is False
    assert await store.hand_over_active("fp", from_task_id="first", to_task_id="follow-up") is True
    await store.mark_queued("follow-up", task_name="enrich_spotify_data", arguments={})
    assert await store.claim_active("fp", "repeat") == "follow-up"

    await store.release_active("fp", "first")  # the first task finishing must not free the follow-up's claim
    assert await store.claim_active("fp", "repeat") == "follow-up"
    await store.release_active("fp", "follow-up")
    assert await store.claim_active("fp", "new") is None
