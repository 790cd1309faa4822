"""Cooldown: a deadline shared through real Redis (or kept in the process), skipped when Redis is away."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from redis.asyncio import Redis

from app.sources.cooldown import Cooldown


def soon(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_a_cooldown_is_seen_until_it_ends(redis_url: str, shared: bool) -> None:
    redis = Redis.from_url(redis_url) if shared else None
    try:
        writer = Cooldown(key="test:cooldown", redis=redis)
        # With Redis, another worker's instance sees it; in-process, only the same instance can.
        reader = Cooldown(key="test:cooldown", redis=redis) if shared else writer
        assert await reader.active() is None
        until = soon(0.5)
        await writer.start(until=until, note="429 on /search")
        active = await reader.active()
        assert active is not None and active.note == "429 on /search"
        assert abs((active.until - until).total_seconds()) < 0.01
        assert active.since <= dt.datetime.now(dt.UTC) < active.until
        await asyncio.sleep(0.6)
        assert await reader.active() is None
        await writer.start(until=soon(-1), note="already over")  # a deadline in the past starts nothing
        assert await reader.active() is None
    finally:
        if redis is not None:
            await redis.aclose()


async def test_unreachable_redis_skips_the_cooldown_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    redis = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    try:
        cooldown = Cooldown(key="test:cooldown", redis=redis)
        await cooldown.start(until=soon(60), note="x")  # does not raise
        assert await cooldown.active() is None
    finally:
        await redis.aclose()
    assert "could not share the cooldown test:cooldown" in caplog.text
    assert "could not read the cooldown test:cooldown" in caplog.text
