from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status

from app.api.access import ADMIN, READ, WRITE, ReadCaller
from app.api.collect_routes import accepted
from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.input_types import INT4_MAX, QueryText, TaskCursor
from app.api.responses import error_responses
from app.api.schemas import DeadLetterOut, DeadLetterPage, TaskAccepted, TaskList
from app.db import dead_letters
from app.db.api_keys import Scope
from app.runtime import Runtime
from app.runtime.recent_tasks import TaskFilter, recent_tasks
from app.runtime.task_status import IndexKey, TaskState, TaskStatus
from app.tasks.admin import DeadLetterNotFoundError, TaskFinishedError, cancel_task, retry_dead_letter

router = APIRouter(prefix="/tasks", tags=["tasks"])

TASK_ID_PATTERN = re.compile(r"^[0-9a-fA-F-]{8,64}$")


EMBEDDED_NOTE = (
    " In embedded mode (no REDIS_URL) statuses live in the service's memory: a restart loses them, a task that"
    " was running then was interrupted, and past 10,000 statuses the oldest are dropped."
)


def _unknown(task_id: str, runtime: Runtime) -> HTTPException:
    detail = f"No task with id {task_id[:80]!r}: it never existed or its status expired."
    return HTTPException(
        status.HTTP_404_NOT_FOUND, detail=detail + ("" if runtime.durable else EMBEDDED_NOTE)
    )


async def known_status(task_id: str, runtime: RuntimeDep) -> TaskStatus:
    """The task's current status; 404 for an unknown or expired one."""
    found = await runtime.statuses.get(task_id) if TASK_ID_PATTERN.match(task_id) else None
    if found is None:
        raise _unknown(task_id, runtime)
    return found


KnownStatus = Annotated[TaskStatus, Depends(known_status)]


@router.get("", name="list_tasks", dependencies=[READ])
async def list_tasks(
    runtime: RuntimeDep,
    state: Annotated[TaskState | None, Query()] = None,
    task_name: Annotated[QueryText | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[TaskCursor | None, Query(description="`next_cursor` of the page before")] = None,
) -> TaskList:
    """Recent tasks, newest first (by enqueue time), in the shape of `GET /tasks/status/{task_id}`, kept as
    long as their statuses (TASK_RESULT_TTL_SECONDS). Follow `next_cursor` until it is null: pages do not shift
    while new tasks arrive. With `state` or `task_name`, one page looks at no more than 5,000 tasks, so it may
    hold fewer than `limit` and still have a `next_cursor`."""
    page = await recent_tasks(
        runtime.statuses,
        wanted=TaskFilter(state=state, task_name=task_name),
        limit=limit,
        after=IndexKey.from_cursor(cursor) if cursor is not None else None,
    )
    next_cursor = page.next_key.to_cursor() if page.next_key is not None else None
    return TaskList(items=page.items, limit=limit, next_cursor=next_cursor)


@router.get("/status/{task_id}", name="task_status", responses=error_responses(404), dependencies=[READ])
async def task_status(found: KnownStatus) -> TaskStatus:
    """The task's state, progress, attempt, result or error. Statuses expire after TASK_RESULT_TTL_SECONDS."""
    return found


@router.delete(
    "/{task_id}",
    responses={
        200: {"description": "It was queued: it will never run"},
        202: {"description": "Running: it stops at its next page/track", "model": TaskStatus},
        **error_responses(404, 409),
    },
    dependencies=[WRITE],
)
async def cancel(task_id: str, response: Response, runtime: RuntimeDep) -> TaskStatus:
    """Cancel a task: a queued one never runs; a running one stops at its next page/track, keeping what it stored."""
    try:
        outcome = (
            await cancel_task(runtime=runtime, task_id=task_id) if TASK_ID_PATTERN.match(task_id) else None
        )
    except TaskFinishedError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    if outcome is None:
        raise _unknown(task_id, runtime)
    response.status_code = status.HTTP_200_OK if outcome.immediate else status.HTTP_202_ACCEPTED
    return outcome.status


@router.get("/dead-letters")
async def list_dead_letters(
    caller: ReadCaller,
    session: SessionDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,
) -> DeadLetterPage:
    """Tasks that failed for good (after their last attempt, or at once for permanent errors), newest first.

    `traceback` is shown to admin keys only (it can name files, settings and internal addresses)."""
    await runtime.outbox.flush_when_possible()  # letters kept while the database was unavailable
    rows = await dead_letters.list_dead_letters(session, limit=limit, offset=offset)
    items = [DeadLetterOut.model_validate(r) for r in rows]
    if caller.scope < Scope.admin:
        items = [item.model_copy(update={"traceback": None}) for item in items]
    return DeadLetterPage(items=items, limit=limit, offset=offset)


@router.post(
    "/dead-letters/{dead_letter_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "An identical task is already queued or running"},
        **error_responses(404),
    },
    dependencies=[ADMIN],
)
async def retry(
    dead_letter_id: Annotated[int, Path(ge=1, le=INT4_MAX)],
    request: Request,
    response: Response,
    resources: ResourcesDep,
    runtime: RuntimeDep,
) -> TaskAccepted:
    """Enqueue the dead letter's task again with the same arguments."""
    try:
        task_id, created = await retry_dead_letter(
            runtime=runtime, sessions=resources.sessions, dead_letter_id=dead_letter_id
        )
    except DeadLetterNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    return accepted(request, response, task_id, created=created)
