"""Task statuses in Redis: one hash per task, kept for TASK_RESULT_TTL_SECONDS.

The two writes every task makes are one round trip each and neither delays its start: `start_many` (running +
attempt for every message of one XREADGROUP at once, sent while the tasks already run) and `finish` (status +
result + claim release + XACK in one MULTI). Cancelling a queued task is one script that either deletes its
message from the stream before any worker took it, or finds it delivered and asks it to stop.

`GET /tasks` reads the index INDEX_KEY: a sorted set of task ids scored by enqueue time (microseconds),
written with the status in `mark_queued`'s MULTI. Entries older than the TTL are only candidates for pruning
(a status lives TTL past its *last* write): `mark_queued` looks at up to PRUNE_BATCH of them in the same
MULTI and drops those whose status is gone; listings drop the expired ones they meet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from app.runtime.redis_connection import text
from app.runtime.task_status import (
    CancelDecision,
    Delivery,
    IndexKey,
    StatusStore,
    TaskState,
    finished_fields,
    index_key,
    now_text,
    queued_fields,
)

KEY_PREFIX = "cratedigger:status:"
INDEX_KEY = "cratedigger:status-index"
PRUNE_BATCH = 20  # index entries past the TTL checked per enqueue: more than the one each enqueue adds

# KEYS[1] status hash; ARGV: task name, now, ttl, reclaimed (0|1), max attempts (0: no limit).
# A reclaimed message is checked first: -1 cancelled, -2 started the allowed number of times and never
# finished. A fresh one is already running (a cancel that came too late to delete it asks it to stop).
_START_SCRIPT = """
local key = KEYS[1]
if ARGV[4] == '1' then
  local seen = redis.call('HMGET', key, 'cancel_requested', 'state', 'attempt')
  if seen[1] == '1' or seen[2] == 'cancelled' then return -1 end
  local limit = tonumber(ARGV[5])
  if limit > 0 and tonumber(seen[3] or '0') >= limit then return -2 end
end
local attempt = redis.call('HINCRBY', key, 'attempt', 1)
redis.call('HSET', key, 'task_name', ARGV[1], 'state', 'running', 'started_at', ARGV[2], 'next_attempt_at', '')
redis.call('EXPIRE', key, ARGV[3])
return attempt
"""
# KEYS[1] status hash, KEYS[2] stream; ARGV: consumer group, now, the cancelled error JSON.
_CANCEL_SCRIPT = """
local seen = redis.call('HMGET', KEYS[1], 'state', 'message_id')
local state = seen[1]
if not state then return 'unknown' end
if state == 'success' or state == 'failure' or state == 'cancelled' then return 'finished' end
redis.call('HSET', KEYS[1], 'cancel_requested', '1')
if state ~= 'queued' and state ~= 'retrying' then return 'stopping' end
if seen[2] then
  local ok, pending = pcall(redis.call, 'XPENDING', KEYS[2], ARGV[1], seen[2], seen[2], 1)
  if ok and #pending > 0 then return 'stopping' end
  redis.call('XDEL', KEYS[2], seen[2])
end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'error', ARGV[3], 'finished_at', ARGV[2])
return 'cancelled'
"""
# Listing reads many statuses at once: one script and one reply for them all costs the client several times
# less than a pipeline of as many HGETALLs (most of the time goes into parsing replies).
# KEYS: status hashes.
_READ_MANY_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
"""
# KEYS: status hashes; ARGV: field, value, field, value, … One character per hash: g (gone: no state),
# m (every field has its value), - (not).
_MATCH_MANY_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local code = 'm'
  if redis.call('HEXISTS', key, 'state') == 0 then code = 'g' else
    for j = 1, #ARGV, 2 do
      if redis.call('HGET', key, ARGV[j]) ~= ARGV[j + 1] then code = '-' break end
    end
  end
  out[i] = code
end
return table.concat(out)
"""
DELETE_IF_EQUAL_SCRIPT = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_CANCELLED_BEFORE_RUN = json.dumps({"type": "Cancelled", "message": "cancelled by request before it ran"})


class RedisStatusStore(StatusStore):
    def __init__(self, redis: Redis, *, ttl_seconds: int, stream: str, group: str) -> None:
        super().__init__(ttl_seconds=ttl_seconds)
        self.redis = redis
        self._stream = stream
        self._group = group

    @staticmethod
    def key(task_id: str) -> str:
        return KEY_PREFIX + task_id

    async def write(self, task_id: str, **fields: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(task_id), mapping=cast(Any, fields))
            pipe.expire(self.key(task_id), self.ttl)
            await pipe.execute()

    async def read(self, task_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self.key(task_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def mark_queued(self, task_id: str, *, task_name: str, arguments: Mapping[str, Any]) -> None:
        fields = queued_fields(task_name, arguments)
        entry = index_key(task_id, fields)
        cutoff_us = int((time.time() - self.ttl) * 1_000_000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(task_id), mapping=cast(Any, fields))
            pipe.expire(self.key(task_id), self.ttl)
            pipe.zadd(INDEX_KEY, {task_id: entry.enqueued_us})
            pipe.zrangebyscore(INDEX_KEY, "-inf", f"({cutoff_us}", start=0, num=PRUNE_BATCH)
            *_, candidates = await pipe.execute()
        if candidates:
            await self._prune([text(member) for member in candidates])

    async def _prune(self, task_ids: Sequence[str]) -> None:
        alive = await self.match_many(task_ids, {})
        await self.unindex([task_id for task_id, found in zip(task_ids, alive, strict=True) if found is None])

    async def index_before(self, before: IndexKey | None, count: int) -> list[IndexKey]:
        if before is None:
            return _entries(
                await self.redis.zrevrangebyscore(
                    INDEX_KEY, "+inf", "-inf", start=0, num=count, withscores=True
                )
            )
        # Entries at the cursor's own microsecond come first (those with a smaller id), then strictly older ones.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(INDEX_KEY, before.enqueued_us, before.enqueued_us, withscores=True)
            pipe.zrevrangebyscore(
                INDEX_KEY, f"({before.enqueued_us}", "-inf", start=0, num=count, withscores=True
            )
            same_time, older = await pipe.execute()
        tied = [entry for entry in _entries(same_time) if entry.task_id < before.task_id]
        return [*tied, *_entries(older)][:count]

    async def read_many(self, task_ids: Sequence[str]) -> list[dict[str, str]]:
        if not task_ids:
            return []
        keys = [self.key(task_id) for task_id in task_ids]
        found = await self.redis.eval(_READ_MANY_SCRIPT, len(keys), *keys)
        return [{text(k): text(v) for k, v in zip(raw[::2], raw[1::2], strict=True)} for raw in found]

    async def match_many(self, task_ids: Sequence[str], fields: Mapping[str, str]) -> list[bool | None]:
        if not task_ids:
            return []
        keys = [self.key(task_id) for task_id in task_ids]
        wanted = [part for pair in fields.items() for part in pair]
        codes = text(await self.redis.eval(_MATCH_MANY_SCRIPT, len(keys), *keys, *wanted))
        return [None if code == "g" else code == "m" for code in codes]

    async def unindex(self, task_ids: Sequence[str]) -> None:
        if task_ids:
            await self.redis.zrem(INDEX_KEY, *task_ids)

    async def start(
        self, task_id: str, *, task_name: str, reclaimed: bool = False, max_attempts: int | None = None
    ) -> int:
        (outcome,) = await self.start_many([(task_id, task_name, reclaimed)], max_attempts=max_attempts)
        return outcome

    async def start_many(
        self, starts: Sequence[tuple[str, str, bool]], *, max_attempts: int | None
    ) -> list[int]:
        """`start` for several (task id, task name, reclaimed) at once: one round trip."""
        now = now_text()
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id, task_name, reclaimed in starts:
                pipe.eval(
                    _START_SCRIPT,
                    1,
                    self.key(task_id),
                    task_name,
                    now,
                    str(self.ttl),
                    "1" if reclaimed else "0",
                    str(max_attempts or 0),
                )
            outcomes = await pipe.execute()
        return [int(value) for value in outcomes]

    async def cancel(self, task_id: str) -> CancelDecision:
        outcome = await self.redis.eval(
            _CANCEL_SCRIPT, 2, self.key(task_id), self._stream, self._group, now_text(), _CANCELLED_BEFORE_RUN
        )
        return CancelDecision(text(outcome))

    async def finish(
        self, task_id: str, *, result: Any, release_claim: str | None, delivery: Delivery | None
    ) -> TaskState:
        state = TaskState.CANCELLED if self.stopped_by_cancel(task_id) else TaskState.SUCCESS
        key = self.key(task_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast(Any, finished_fields(state, result)))
            pipe.expire(key, self.ttl)
            if release_claim is not None:
                pipe.eval(DELETE_IF_EQUAL_SCRIPT, 1, release_claim, task_id)
            if delivery is not None:
                pipe.xack(delivery.stream, delivery.group, delivery.message_id)
            await pipe.execute()
        return state


def _entries(rows: Any) -> list[IndexKey]:
    """ZREVRANGEBYSCORE … WITHSCORES as index keys (scores are whole microseconds, exact as doubles)."""
    return [IndexKey(int(score), text(member)) for member, score in rows]
