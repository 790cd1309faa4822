"""The per-deployment request budget on real Redis: limiters in different processes (here two clients) share
one pace and one pause. Lower bounds only: pacing may only ever make requests later."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from app.sources.ratelimit import AsyncRateLimiter
from app.sources.shared_budget import SharedRateLimiter, request_budget


async def test_two_processes_share_one_pace(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a = SharedRateLimiter(first, site="test-site", rate_per_second=20)
        b = SharedRateLimiter(second, site="test-site", rate_per_second=20)
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for limiter in (a, b) for _ in range(10)))
        # 20 requests at 20 a second between them: the last waits at least 19 intervals. Each alone would
        # have let its 10 through in 0.45 s.
        assert time.monotonic() - started >= 19 / 20 - 0.02
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_pause_one_process_hears_of_holds_the_other(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        told = SharedRateLimiter(first, site="test-site", rate_per_second=None)
        other = SharedRateLimiter(second, site="test-site", rate_per_second=None)
        await told.pause_everyone(0.5)  # a site's Retry-After seen by one worker process (`hold` sends this)
        started = time.monotonic()
        await other.acquire()
        assert time.monotonic() - started >= 0.4
    finally:
        await first.aclose()
        await second.aclose()


def test_embedded_mode_keeps_the_process_limiter() -> None:
    limiter = request_budget(None, site="beatport-pages", rate_per_second=1.0)
    assert type(limiter) is AsyncRateLimiter
