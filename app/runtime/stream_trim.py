"""Trimming the task stream: entries every consumer group has acknowledged are deleted, nothing else.

XACK leaves an entry in the stream, so without trimming the stream holds every task message ever sent (a
collection's message is a few hundred bytes; a busy deployment sends thousands a day). A length cap (MAXLEN)
could delete a message still queued or running; this trims below the oldest entry any group still needs:
its oldest pending (delivered, unacknowledged) entry, or, with none pending, its last delivered one. Entries
after that were never delivered and stay. One script, so no delivery or acknowledgement falls between
reading that floor and trimming to it.
"""

from __future__ import annotations

from redis.asyncio import Redis

TRIM_INTERVAL_SECONDS = 60.0

# KEYS[1] the stream. Returns how many entries were deleted.
_TRIM_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local floor = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  local needed = fields['last-delivered-id']
  if tonumber(fields['pending']) > 0 then
    needed = redis.call('XPENDING', KEYS[1], fields['name'])[2]
  end
  if floor == nil or before(needed, floor) then floor = needed end
end
if floor == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
"""


async def trim_acknowledged(redis: Redis, stream: str) -> int:
    """Delete the stream's entries that every consumer group has acknowledged; how many were deleted. A
    stream without a group is left alone (its entries were never delivered)."""
    return int(await redis.eval(_TRIM_SCRIPT, 1, stream))
