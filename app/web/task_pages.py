"""Tasks: one task's state with a progress bar that follows the task's events live, cancel, and the dead
letters with retry. Statuses come from the runtime's status store, as the API reads them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.input_types import INT4_MAX
from app.api.task_routes import TASK_ID_PATTERN
from app.db import dead_letters
from app.db.api_keys import Scope
from app.runtime import Runtime
from app.runtime.task_status import FINISHED_STATES, TaskStatus
from app.tasks.admin import DeadLetterNotFoundError, TaskFinishedError, cancel_task, retry_dead_letter
from app.web.access import PAGE, SignedIn, acting
from app.web.session import DashboardSession
from app.web.templating import page

router = APIRouter(include_in_schema=False)

CancelSession = Annotated[DashboardSession, acting(Scope.write, "cancelling a task")]
RetrySession = Annotated[DashboardSession, acting(Scope.admin, "retrying a dead letter")]
TaskId = Annotated[str, Path(max_length=64)]
DeadLetterId = Annotated[int, Path(ge=1, le=INT4_MAX)]
DEAD_LETTERS_SHOWN = 100


def _not_found(request: Request, task_id: str) -> Response:
    message = f"No task with id {task_id[:80]!r}: it never existed or its status expired."
    return page(request, "error.html", status_code=404, title="Unknown task", message=message)


async def _status(runtime: RuntimeDep, task_id: str) -> TaskStatus | None:
    return await runtime.statuses.get(task_id) if TASK_ID_PATTERN.match(task_id) else None


def task_view(status: TaskStatus) -> dict[str, object]:
    """What the page and the live script show of a status (the script gets the same fields as JSON)."""
    return {
        "state": status.state.value,
        "finished": status.state in FINISHED_STATES,
        "done": status.progress.done if status.progress else 0,
        "total": status.progress.total if status.progress else None,
        "message": status.progress.message if status.progress else "",
        "error": f"{status.error.type}: {status.error.message}" if status.error else None,
    }


@router.get("/ui/tasks/{task_id}", dependencies=[PAGE])
async def task_page(
    request: Request, task_id: TaskId, runtime: RuntimeDep, duplicate: bool = False
) -> Response:
    status = await _status(runtime, task_id)
    if status is None:
        return _not_found(request, task_id)
    result = json.dumps(status.result, indent=2, default=str) if status.result is not None else None
    return page(
        request,
        "task.html",
        title=f"Task {status.task_name}",
        task=status,
        view=task_view(status),
        result=result,
        duplicate=duplicate,
    )


@router.post("/ui/tasks/{task_id}/cancel")
async def cancel(request: Request, task_id: TaskId, session: CancelSession, runtime: RuntimeDep) -> Response:
    try:
        outcome = (
            await cancel_task(runtime=runtime, task_id=task_id) if TASK_ID_PATTERN.match(task_id) else None
        )
    except TaskFinishedError as error:
        return page(request, "error.html", status_code=409, title="Already ended", message=str(error))
    if outcome is None:
        return _not_found(request, task_id)
    return RedirectResponse(f"/ui/tasks/{task_id}", status_code=303)


@router.get("/ui/dead-letters")
async def dead_letter_list(
    request: Request, session: SignedIn, database: SessionDep, runtime: RuntimeDep
) -> Response:
    await runtime.outbox.flush_when_possible()  # letters kept while the database was unavailable
    letters = await dead_letters.list_dead_letters(database, limit=DEAD_LETTERS_SHOWN, offset=0)
    return page(
        request,
        "dead_letters.html",
        title="Dead letters",
        letters=letters,
        tracebacks=session.scope >= Scope.admin,  # as the API: they can name files, settings and addresses
    )


@router.post("/ui/dead-letters/{dead_letter_id}/retry")
async def retry(
    request: Request,
    dead_letter_id: DeadLetterId,
    session: RetrySession,
    resources: ResourcesDep,
    runtime: RuntimeDep,
) -> Response:
    try:
        task_id, _ = await retry_dead_letter(
            runtime=runtime, sessions=resources.sessions, dead_letter_id=dead_letter_id
        )
    except DeadLetterNotFoundError as error:
        return page(request, "error.html", status_code=404, title="Unknown dead letter", message=str(error))
    return RedirectResponse(f"/ui/tasks/{task_id}", status_code=303)


EVENT_POLL_SECONDS = 0.25
EVENT_KEEPALIVE_SECONDS = 15.0


async def _status_events(request: Request, runtime: Runtime, task_id: str) -> AsyncIterator[str]:
    """One `status` event per change of the task's status, the first at once; closed after the final state."""
    last, quiet = "", 0.0
    while not await request.is_disconnected():
        status = await runtime.statuses.get(task_id)
        if status is None:
            return
        current = status.model_dump_json()
        if current != last:
            last, quiet = current, 0.0
            yield f"event: status\ndata: {current}\n\n"
            if status.state in FINISHED_STATES:
                return
        elif quiet >= EVENT_KEEPALIVE_SECONDS:
            quiet = 0.0
            yield ": still running\n\n"  # a comment keeps proxies from closing a quiet stream
        await asyncio.sleep(EVENT_POLL_SECONDS)
        quiet += EVENT_POLL_SECONDS


@router.get("/ui/tasks/{task_id}/events", dependencies=[PAGE])
async def task_events(request: Request, task_id: TaskId, runtime: RuntimeDep) -> Response:
    if await _status(runtime, task_id) is None:
        return _not_found(request, task_id)
    return StreamingResponse(
        _status_events(request, runtime, task_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
