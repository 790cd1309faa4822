"""`GET /tasks`: recent tasks, newest first, read from a status store's index with keyset paging.

A page ends at an index key and the next starts strictly below it, so tasks enqueued between two pages never
shift or repeat what follows. Filters are applied to the statuses (a state changes, so no index can hold it):
filtered listings have the store match a batch of statuses (without sending them) and read in full only the
matches a page needs, looking at no more than MAX_SCANNED index entries per page; a page may then hold fewer
than `limit` tasks and still have a cursor (the caller goes on until it is null).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.runtime.task_status import IndexKey, StatusStore, TaskState, TaskStatus, status_from_fields

MAX_SCANNED = 5_000  # index entries one page may look at
SCAN_BATCH = 250  # entries read per round trip when filtering


@dataclass(frozen=True)
class TaskFilter:
    state: TaskState | None = None
    task_name: str | None = None

    @property
    def fields(self) -> dict[str, str]:
        """The status fields and the values they must have."""
        wanted = {"state": str(self.state) if self.state else None, "task_name": self.task_name}
        return {name: value for name, value in wanted.items() if value is not None}

    def matches(self, status: dict[str, str]) -> bool:
        return all(status.get(name) == value for name, value in self.fields.items())


@dataclass(frozen=True)
class RecentTasks:
    items: list[TaskStatus]
    next_key: IndexKey | None  # where the next page starts; None: nothing older


async def recent_tasks(
    store: StatusStore,
    *,
    wanted: TaskFilter,
    limit: int,
    after: IndexKey | None = None,
    max_scanned: int = MAX_SCANNED,
) -> RecentTasks:
    found: list[TaskStatus] = []
    position, scanned, exhausted = after, 0, False
    while len(found) < limit and scanned < max_scanned and not exhausted:
        # Unfiltered, each entry is a task unless its status expired: read no more than the page needs.
        count = min(SCAN_BATCH if bool(wanted.fields) else limit - len(found), max_scanned - scanned)
        keys = await store.index_before(position, count)
        statuses = await _statuses(store, keys, wanted, needed=limit - len(found))
        exhausted = len(keys) < count and len(statuses) == len(keys)
        for key, status in zip(
            keys, statuses, strict=False
        ):  # keys past those examined wait for a next round
            position, scanned = key, scanned + 1
            if status is not None:
                found.append(status)
            if len(found) == limit:
                exhausted = exhausted and key == keys[-1]
                break
    return RecentTasks(found, None if exhausted else position)


async def _statuses(
    store: StatusStore, keys: Sequence[IndexKey], wanted: TaskFilter, *, needed: int
) -> list[TaskStatus | None]:
    """For the leading keys, up to the `needed`-th match: each one's status if it is live and matches, else
    None. Index entries of expired statuses go."""
    ids = [key.task_id for key in keys]
    if wanted.fields:
        matched = await store.match_many(ids, wanted.fields)
        expired = [task_id for task_id, match in zip(ids, matched, strict=True) if match is None]
        matching = [index for index, match in enumerate(matched) if match][:needed]
        examined = matching[-1] + 1 if len(matching) == needed else len(ids)
        chosen = [ids[index] for index in matching]
    else:
        expired, chosen, examined = [], ids, len(ids)
    full = dict(zip(chosen, await store.read_many(chosen), strict=True))
    expired += [task_id for task_id in chosen if "state" not in full[task_id]]
    await store.unindex(expired)
    # A status may have moved on since it was matched: it is shown only if it is still wanted.
    return [
        status_from_fields(task_id, full[task_id]) if wanted.matches(full.get(task_id, {})) else None
        for task_id in ids[:examined]
    ]
