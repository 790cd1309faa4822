"""Per-key request limit: each API key may make API_KEY_REQUESTS_PER_MINUTE requests in a calendar minute; more
are answered 429 with `Retry-After` (the seconds to the next minute). 0, the default, sets no limit.

Counted in Redis when the service has one (every API process shares the count: one INCR and one EXPIRE in a
pipeline per request), else in the process (embedded mode). It guards the service, not the data: when Redis
cannot be reached the request is let through with a warning, as the key itself was already checked.
A fixed window lets a key send up to twice the limit across a minute's boundary; a key's steady rate is bounded
all the same, at the cost of one counter per key and minute.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from fastapi import HTTPException, status
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.runtime.redis_connection import REDIS_ERRORS

logger = logging.getLogger(__name__)

KEY_PREFIX = "cratedigger:key-requests:"
WINDOW_SECONDS = 60


class KeyRateLimit:
    def __init__(
        self, *, per_minute: int, redis: Redis | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.per_minute = per_minute
        self._redis = redis
        self._clock = clock
        self._local: dict[str, tuple[int, int]] = {}  # key name → (window, count), without Redis

    async def check(self, key_name: str) -> None:
        """Count one request of `key_name`; 429 when it is over the limit for this minute."""
        if self.per_minute <= 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        count = await self._count(key_name, window)
        if count is not None and count > self.per_minute:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"The key {key_name!r} made more than {self.per_minute} requests this minute "
                f"(API_KEY_REQUESTS_PER_MINUTE); try again in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )

    async def _count(self, key_name: str, window: int) -> int | None:
        if self._redis is None:
            seen_window, seen = self._local.get(key_name, (window, 0))
            count = seen + 1 if seen_window == window else 1
            self._local[key_name] = (window, count)
            return count
        key = f"{KEY_PREFIX}{key_name}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS * 2)
                count, _ = await pipe.execute()
        except (*REDIS_ERRORS, RedisError) as error:
            logger.warning("request count of key %r not kept (%r): let through", key_name, error)
            return None
        return int(count)
