"""Dead letters that survive a database outage: written to the database, or kept in Redis until it is back.

A task can fail for good exactly because the database refuses connections; its dead letter must not be lost
with it. `record` tries the database; on failure the letter waits in a Redis list (process memory in embedded
mode) and `flush` (run by every worker on a timer, and before the API lists dead letters) writes it later.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import dead_letters

logger = logging.getLogger(__name__)

OUTBOX_KEY = "cratedigger:dead-letter-outbox"
FLUSH_BATCH = 100


@dataclass(frozen=True)
class DeadLetterRecord:
    task_id: str
    task_name: str
    kwargs: dict[str, Any]
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetterRecord:
        data = json.loads(raw)
        for name in ("first_failed_at", "last_failed_at"):
            data[name] = dt.datetime.fromisoformat(data[name])
        return cls(**data)


class PendingLetters(Protocol):
    async def push(self, raw: str) -> None: ...
    async def take(self, count: int) -> list[str]: ...
    async def put_back(self, raws: list[str]) -> None: ...


class RedisPendingLetters:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def push(self, raw: str) -> None:
        await self._redis.rpush(OUTBOX_KEY, raw)

    async def take(self, count: int) -> list[str]:
        taken: list[bytes | str] | None = await self._redis.lpop(OUTBOX_KEY, count)  # type: ignore[assignment]
        return [v.decode() if isinstance(v, bytes) else v for v in taken or []]

    async def put_back(self, raws: list[str]) -> None:
        if raws:
            await self._redis.lpush(OUTBOX_KEY, *reversed(raws))


class MemoryPendingLetters:
    def __init__(self) -> None:
        self._items: list[str] = []

    async def push(self, raw: str) -> None:
        self._items.append(raw)

    async def take(self, count: int) -> list[str]:
        taken, self._items = self._items[:count], self._items[count:]
        return taken

    async def put_back(self, raws: list[str]) -> None:
        self._items[:0] = raws


class DeadLetterOutbox:
    def __init__(self, pending: PendingLetters) -> None:
        self._pending = pending
        # Attached by the app lifespan (API and each worker): dead letters go to this process's database.
        self.sessions: async_sessionmaker[AsyncSession] | None = None

    async def record(self, letter: DeadLetterRecord) -> None:
        try:
            await self._write([letter])
        except Exception as error:  # any database failure: keep the letter for later, never lose it
            logger.warning(
                "database unavailable for the dead letter of %s (%r); kept in the outbox",
                letter.task_id,
                error,
            )
            await self._pending.push(letter.to_json())

    async def flush(self) -> int:
        """Write waiting letters to the database; returns how many were written."""
        written = 0
        while raws := await self._pending.take(FLUSH_BATCH):
            try:
                await self._write([DeadLetterRecord.from_json(raw) for raw in raws])
            except Exception:
                await self._pending.put_back(raws)
                raise
            written += len(raws)
        if written:
            logger.info("wrote %d dead letter(s) kept while the database was unavailable", written)
        return written

    async def _write(self, letters: list[DeadLetterRecord]) -> None:
        if self.sessions is None:
            raise RuntimeError("no database attached to the dead-letter outbox")
        async with self.sessions.begin() as session:
            for letter in letters:
                await dead_letters.record(session, **asdict(letter))

    async def flush_when_possible(self) -> None:
        """For timers: a database still unavailable is retried next time."""
        try:
            await self.flush()
        except Exception as error:
            logger.info("dead-letter outbox not flushed yet (%r)", error)
