"""Tasks: one task's state with a progress bar that follows the task's events live, cancel, and the dead
letters with retry. Statuses come from the runtime's status store, as the API reads them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import ResourcesDep, RuntimeDep, SessionDep
from app.api.input_types import INT4_MAX
from app.api.task_event_routes import task_events as api_task_events
from app.api.task_routes import TASK_ID_PATTERN, KnownStatus
from app.db import dead_letters
from app.db.api_keys import Scope
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
SUMMARY_COUNTS = 4


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
        "summary": _summary(status.result),
    }


def _summary(result: object) -> str:
    """A result's counts in a few words ("tracks seen 100 · tracks created 100"), for the task list."""
    if not isinstance(result, dict):
        return ""
    counts = [(k, v) for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool) and v]
    return " · ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts[:SUMMARY_COUNTS])


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


@router.get("/ui/tasks/{task_id}/events", dependencies=[PAGE], response_class=EventSourceResponse)
async def task_events(
    current: KnownStatus, request: Request, runtime: RuntimeDep
) -> AsyncIterator[ServerSentEvent]:
    """The API's event stream of the task (`GET /tasks/{id}/events`), for a signed-in browser: EventSource
    cannot send an Authorization header."""
    async for event in api_task_events(current, request, runtime):
        yield event
