"""Trimming the task stream on real Redis: acknowledged entries go, queued and running ones stay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.runtime.stream_trim import trim_acknowledged

STREAM, GROUP = "test:trim:tasks", "test-workers"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.delete(STREAM)
    try:
        yield client
    finally:
        await client.delete(STREAM)
        await client.aclose()


async def _ids(redis: Redis) -> list[object]:
    return [entry_id for entry_id, _ in await redis.xrange(STREAM) or []]


async def test_only_entries_every_group_acknowledged_are_deleted(redis: Redis) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    ids = [await redis.xadd(STREAM, {"data": str(n)}) for n in range(6)]
    await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=4)  # 0-3 delivered, 4-5 still queued
    await redis.xack(STREAM, GROUP, ids[0], ids[1], ids[3])  # 2 still running

    assert await trim_acknowledged(redis, STREAM) == 2
    assert await _ids(redis) == ids[2:]  # the running one and all after it

    await redis.xack(STREAM, GROUP, ids[2])
    assert await trim_acknowledged(redis, STREAM) == 1
    assert await _ids(redis) == ids[3:]  # the last delivered stays (the floor); queued ones too

    await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=10)
    await redis.xack(STREAM, GROUP, ids[4], ids[5])
    assert await trim_acknowledged(redis, STREAM) == 2
    assert await _ids(redis) == ids[5:]
    assert await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=10) == []  # nothing re-delivered


async def test_a_group_that_has_not_read_keeps_everything(redis: Redis) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    ids = [await redis.xadd(STREAM, {"data": str(n)}) for n in range(3)]
    await redis.xreadgroup(GROUP, "worker", {STREAM: ">"}, count=3)
    await redis.xack(STREAM, GROUP, *ids)
    await redis.xgroup_create(STREAM, "late-readers", id="0")  # has read nothing yet

    assert await trim_acknowledged(redis, STREAM) == 0
    assert await _ids(redis) == ids


async def test_a_stream_without_groups_or_without_entries_is_left_alone(redis: Redis) -> None:
    assert await trim_acknowledged(redis, STREAM) == 0  # no stream
    ids = [await redis.xadd(STREAM, {"data": str(n)}) for n in range(2)]
    assert await trim_acknowledged(redis, STREAM) == 0  # no group: never delivered
    assert await _ids(redis) == ids
