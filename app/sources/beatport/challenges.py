"""Remembers that Beatport's pages were challenged recently, for every task and worker.

Cloudflare challenges tend to last hours or days. Without a memory, each `auto` collection would first spend
its `BEATPORT_FETCH_ATTEMPTS` (with backoff) on a page that is challenged again before switching to the API.
With it, the first challenge sends later collections straight to the API until the memory expires
(`BEATPORT_CHALLENGE_MEMORY_SECONDS`), after which pages are tried again. It lives in Redis when the service
has one (shared by all workers), else in the process. It is an optimisation: if Redis cannot be reached the
memory is skipped, and the collection behaves as if nothing were remembered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CHALLENGE_KEY = "cratedigger:beatport:pages-challenged"


@dataclass(frozen=True, slots=True)
class RecentChallenge:
    url: str
    at: dt.datetime
    until: dt.datetime

    def reason(self) -> str:
        return (
            f"pages challenged at {self.at:%Y-%m-%d %H:%M:%S} UTC; "
            f"using the API until {self.until:%H:%M:%S} UTC"
        )


class ChallengeMemory:
    def __init__(self, *, seconds: int, redis: Redis | None = None) -> None:
        self._seconds = seconds
        self._redis = redis
        self._local: tuple[str, float] | None = None  # (url, when) without Redis

    async def remember(self, *, url: str) -> None:
        if self._seconds <= 0:
            return
        now = time.time()
        if self._redis is None:
            self._local = (url, now)
            return
        try:
            await self._redis.set(CHALLENGE_KEY, json.dumps({"url": url, "at": now}), ex=self._seconds)
        except RedisError as error:
            logger.warning("could not remember the Beatport challenge in Redis: %r", error)

    async def recent(self) -> RecentChallenge | None:
        """The last challenge, if it is more recent than the memory's span."""
        if self._seconds <= 0:
            return None
        if self._redis is None:
            noted = self._local
        else:
            try:
                raw = await self._redis.get(CHALLENGE_KEY)
            except RedisError as error:
                logger.warning("could not read the Beatport challenge memory from Redis: %r", error)
                return None
            data = json.loads(raw) if raw else None
            noted = (str(data["url"]), float(data["at"])) if data else None
        if noted is None or time.time() - noted[1] >= self._seconds:
            return None
        url, at = noted
        return RecentChallenge(
            url=url,
            at=dt.datetime.fromtimestamp(at, dt.UTC),
            until=dt.datetime.fromtimestamp(at + self._seconds, dt.UTC),
        )
