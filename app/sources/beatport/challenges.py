"""Remembers that Beatport's pages were challenged recently, for every task and worker.

Cloudflare challenges tend to last hours or days. Without a memory, each `auto` collection would first spend
its `BEATPORT_FETCH_ATTEMPTS` (with backoff) on a page that is challenged again before switching to the API.
With it, the first challenge sends later collections straight to the API until the memory expires
(`BEATPORT_CHALLENGE_MEMORY_SECONDS`), after which pages are tried again. It is a `Cooldown` on the pages:
in Redis when the service has one, else in the process, and skipped when Redis cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from redis.asyncio import Redis

from app.sources.cooldown import Cooldown

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
        self._cooldown = Cooldown(key=CHALLENGE_KEY, redis=redis)

    async def remember(self, *, url: str) -> None:
        if self._seconds > 0:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._seconds)
            await self._cooldown.start(until=until, note=url)

    async def recent(self) -> RecentChallenge | None:
        """The last challenge, if it is more recent than the memory's span."""
        if self._seconds <= 0:
            return None
        active = await self._cooldown.active()
        return RecentChallenge(url=active.note, at=active.since, until=active.until) if active else None
