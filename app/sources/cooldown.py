"""A deadline every worker shares: "don't ask this site again before <until>".

Kept in Redis when the service has one (so all workers see it), else in the process (embedded mode). It only
saves requests: when Redis cannot be reached it is skipped with a warning, and the site's own answer decides.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveCooldown:
    note: str  # what started it, for people reading a status
    since: dt.datetime
    until: dt.datetime


class Cooldown:
    def __init__(self, *, key: str, redis: Redis | None = None) -> None:
        self._key = key
        self._redis = redis
        self._local: dict[str, Any] | None = None  # without Redis

    async def start(self, *, until: dt.datetime, note: str) -> None:
        now = time.time()
        ttl_ms = int((until.timestamp() - now) * 1000)
        if ttl_ms <= 0:
            return
        record: dict[str, Any] = {"note": note, "since": now, "until": until.timestamp()}
        if self._redis is None:
            self._local = record
            return
        try:
            await self._redis.set(self._key, json.dumps(record), px=ttl_ms)
        except RedisError as error:
            logger.warning("could not share the cooldown %s through Redis: %r", self._key, error)

    async def active(self) -> ActiveCooldown | None:
        if self._redis is None:
            record = self._local
        else:
            try:
                raw = await self._redis.get(self._key)
            except RedisError as error:
                logger.warning("could not read the cooldown %s from Redis: %r", self._key, error)
                return None
            record = json.loads(raw) if raw else None
        if not record:
            return None
        until = float(record["until"])
        if until <= time.time():
            return None
        return ActiveCooldown(
            note=str(record["note"]),
            since=dt.datetime.fromtimestamp(float(record["since"]), dt.UTC),
            until=dt.datetime.fromtimestamp(until, dt.UTC),
        )
