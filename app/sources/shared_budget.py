"""One request budget per deployment: every worker process and container paces a site through Redis.

A process-local `AsyncRateLimiter` lets each worker process send its own N requests a second, so `taskiq
worker`'s two processes (and every extra container) multiply the politeness budget. `SharedRateLimiter` keeps
the site's next free slot in Redis, claimed atomically by a script on Redis's own clock, so all processes
together send at most N a second; a site's Retry-After (`hold`) pauses all of them. If Redis cannot be reached
it falls back on its process-local pacing (with a warning) rather than stop collecting.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "cratedigger:budget:"
# KEYS[1]: the next free slot (ms, Redis time). ARGV[1]: ms between requests; ARGV[2]: ms to hold everyone
# (0: reserve a slot instead). Returns how many ms the caller waits for its slot.
_CLAIM_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local hold = tonumber(ARGV[2])
if hold > 0 then
  if now + hold > free then redis.call('SET', KEYS[1], now + hold, 'PX', hold + 60000) end
  return 0
end
local slot = math.max(now, free)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], slot + interval, 'PX', slot - now + interval + 60000)
return slot - now
"""


class SharedRateLimiter(AsyncRateLimiter):
    def __init__(self, redis: Redis, *, site: str, rate_per_second: float | None) -> None:
        super().__init__(rate_per_second)
        self._redis = redis
        self._key = KEY_PREFIX + site
        self._holds: set[asyncio.Task[None]] = set()

    async def acquire(self) -> None:
        await self.acquire_local_hold()  # a pause this process already knows of, before claiming a slot
        interval_ms = int(self._interval * 1000)
        try:
            wait_ms = int(await self._redis.eval(_CLAIM_SCRIPT, 1, self._key, str(interval_ms), "0"))
        except (RedisError, OSError) as error:
            logger.warning(
                "shared request budget %s unavailable (%r); pacing this process alone", self._key, error
            )
            await super().acquire()
            return
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)

    def hold(self, seconds: float) -> None:
        """Pause this process at once, and every other one through Redis."""
        super().hold(seconds)
        if seconds <= 0:
            return
        task = asyncio.ensure_future(self.pause_everyone(seconds))
        self._holds.add(task)
        task.add_done_callback(self._holds.discard)

    async def pause_everyone(self, seconds: float) -> None:
        """Let no process of the deployment through for `seconds` (what `hold` sends in the background)."""
        try:
            await self._redis.eval(_CLAIM_SCRIPT, 1, self._key, "0", str(int(seconds * 1000)))
        except (RedisError, OSError) as error:
            logger.warning("could not share a pause of %.1f s for %s (%r)", seconds, self._key, error)


def request_budget(redis: Redis | None, *, site: str, rate_per_second: float | None) -> AsyncRateLimiter:
    """Shared by the deployment when Redis is there; per process in embedded mode."""
    if redis is None:
        return AsyncRateLimiter(rate_per_second)
    return SharedRateLimiter(redis, site=site, rate_per_second=rate_per_second)
