"""API_KEY_REQUESTS_PER_MINUTE: each key's requests counted per calendar minute, in the process or shared through
real Redis, 429 with Retry-After beyond the limit; the API documents and answers it; Redis away lets requests
through. The limiter's clock is handed in, so no test depends on where in a minute it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from redis.asyncio import Redis

from app.api.key_rate_limit import KeyRateLimit
from app.db import api_keys
from app.db.api_keys import Scope
from app.services.resources import Resources
from tests.auth import admin_client

MINUTE_START = 1_764_633_600.0  # 2025-12-02 00:00:00 UTC, a minute's first second


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["in the process", "in Redis"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis | None]:
    if request.param == "in the process":
        yield None
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield client
    finally:
        await client.aclose()


async def refused(limit: KeyRateLimit, key: str) -> HTTPException:
    with pytest.raises(HTTPException) as caught:
        await limit.check(key)
    return caught.value


async def test_a_key_over_its_minute_is_told_when_to_come_back(redis: Redis | None) -> None:
    clock = Clock(MINUTE_START + 45.2)
    limit = KeyRateLimit(per_minute=3, redis=redis, clock=clock)
    for _ in range(3):
        await limit.check("ci")
    over = await refused(limit, "ci")
    assert over.status_code == 429 and over.headers == {"Retry-After": "15"}  # 14.8 s to the next minute
    assert "'ci' made more than 3 requests this minute" in str(over.detail)
    await limit.check("ops")  # another key has its own count

    clock.now = MINUTE_START + 60.0  # the next minute starts afresh
    for _ in range(3):
        await limit.check("ci")
    assert (await refused(limit, "ci")).headers == {"Retry-After": "60"}


async def test_api_processes_share_one_count_through_redis(redis_url: str) -> None:
    clock = Clock(MINUTE_START + 1)
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        processes = [KeyRateLimit(per_minute=3, redis=r, clock=clock) for r in (first, second)]
        for process in (*processes, processes[0]):
            await process.check("ci")
        assert (await refused(processes[1], "ci")).status_code == 429
    finally:
        await first.aclose()
        await second.aclose()


async def test_without_redis_requests_are_let_through() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        limit = KeyRateLimit(per_minute=1, redis=unreachable, clock=Clock(MINUTE_START))
        for _ in range(3):
            await limit.check("ci")  # counted nowhere, refused never
    finally:
        await unreachable.aclose()


async def test_no_limit_by_default_counts_nothing(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        limit = KeyRateLimit(per_minute=0, redis=client, clock=Clock(MINUTE_START))
        for _ in range(5):
            await limit.check("ci")
        assert await client.keys("cratedigger:key-requests:*") == []
    finally:
        await client.aclose()


async def test_the_api_answers_429_per_key_and_documents_it(embedded_app: FastAPI) -> None:
    embedded_app.state.key_rate_limit = KeyRateLimit(per_minute=2, redis=None, clock=Clock(MINUTE_START + 30))
    resources: Resources = embedded_app.state.resources
    async with resources.sessions() as session:
        _, secret = await api_keys.create_key(session, name="reader", scope=Scope.read)
    transport = httpx.ASGITransport(app=embedded_app)
    async with (
        admin_client(embedded_app) as admin,
        httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {secret}"}
        ) as reader,
        httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous,
    ):
        assert [(await reader.get("/tracks")).status_code for _ in range(2)] == [200, 200]
        over = await reader.get("/tracks")
        assert over.status_code == 429 and over.headers["retry-after"] == "30"
        assert "'reader' made more than 2 requests" in over.json()["detail"]
        assert (await admin.get("/tracks")).status_code == 200  # its own count
        assert (await anonymous.get("/health")).status_code == 200  # no key: nothing to count

        schema = (await admin.get("/openapi.json")).json()
    documented = schema["paths"]["/tracks"]["get"]["responses"]["429"]
    assert "Retry-After" in documented["headers"]
