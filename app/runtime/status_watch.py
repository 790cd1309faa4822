"""A task's status as it changes, for `GET /tasks/{id}/events`.

Changes are noticed by reading the status every POLL_SECONDS (one HGETALL in Redis, a dict lookup in embedded
mode) rather than by publishing from every place a status is written: the workers' hot path stays as it is,
and both modes work the same way. Changes closer together than the poll interval arrive as one (the later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from app.runtime.redis_connection import REDIS_ERRORS
from app.runtime.task_status import FINISHED_STATES, StatusStore, TaskStatus

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25


async def status_changes(
    store: StatusStore, current: TaskStatus, *, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[TaskStatus]:
    """`current`, then each different status seen, until a final state. Ends early if the status expires or
    the store cannot be read (a client reconnects and gets the current status again)."""
    yield current
    while current.state not in FINISHED_STATES:
        await asyncio.sleep(poll_seconds)
        try:
            latest = await store.get(current.task_id)
        except REDIS_ERRORS as error:
            logger.warning(
                "task %s events: status unreadable (%r); closing the stream", current.task_id, error
            )
            return
        if latest is None:
            return
        if latest != current:
            current = latest
            yield current


async def statuses_changes(
    store: StatusStore, currents: list[TaskStatus], *, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[TaskStatus]:
    """Each of `currents`, then each different status seen of any of them, until every one is final: one stream
    for many tasks (a page listing running tasks would otherwise need a connection per task, and a browser keeps
    about six per site). A task whose status expires or cannot be read drops out."""
    following: dict[str, TaskStatus] = {}
    for current in currents:
        yield current
        if current.state not in FINISHED_STATES:
            following[current.task_id] = current
    while following:
        await asyncio.sleep(poll_seconds)
        for task_id, current in list(following.items()):
            try:
                latest = await store.get(task_id)
            except REDIS_ERRORS as error:
                logger.warning("task list events: %s unreadable (%r); closing the stream", task_id, error)
                return
            if latest is None or latest.state in FINISHED_STATES:
                del following[task_id]
            else:
                following[task_id] = latest
            if latest is not None and latest != current:
                yield latest
