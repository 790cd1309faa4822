"""Tasks: the recent ones, newest first, filtered by state (and task name), from the status index the API's
`GET /tasks` reads; running ones follow their events live on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import RuntimeDep
from app.api.task_event_routes import status_events
from app.broker import broker
from app.runtime.recent_tasks import TaskFilter, recent_tasks
from app.runtime.status_watch import statuses_changes
from app.runtime.task_status import IndexKey, TaskState, TaskStatus
from app.web.access import PAGE
from app.web.task_pages import task_view
from app.web.templating import page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=200)]
TaskIds = Annotated[list[str], Query(alias="id", min_length=1, max_length=PAGE_SIZE)]


def task_names() -> list[str]:
    """Every task the workers run, for the filter (watchlist runs, webhooks… as they are added)."""
    return sorted(broker.get_all_tasks())


@router.get("/ui/tasks", dependencies=[PAGE])
async def task_list(
    request: Request, runtime: RuntimeDep, state: Text = "", task_name: Text = "", cursor: Text = ""
) -> Response:
    errors: list[str] = []
    wanted_state = None
    if state:
        try:
            wanted_state = TaskState(state)
        except ValueError:
            errors.append(f"state: one of {', '.join(s.value for s in TaskState)}")
    after = None
    if cursor:
        try:
            after = IndexKey.from_cursor(cursor)
        except ValueError as error:
            errors.append(f"cursor: {error}")
    listed = None
    if not errors:
        listed = await recent_tasks(
            runtime.statuses,
            wanted=TaskFilter(state=wanted_state, task_name=task_name or None),
            limit=PAGE_SIZE,
            after=after,
        )
    rows = [(task, task_view(task)) for task in listed.items] if listed else []
    live = [task.task_id for task, view in rows if not view["finished"]]
    return page(
        request,
        "tasks.html",
        status_code=422 if errors else 200,
        title="Tasks",
        rows=rows,
        live_events=f"/ui/task-events?{urlencode([('id', task_id) for task_id in live])}" if live else None,
        states=[s.value for s in TaskState],
        task_names=task_names(),
        chosen={"state": state, "task_name": task_name},
        next_cursor=listed.next_key.to_cursor() if listed and listed.next_key else None,
        errors=errors,
        durable=runtime.durable,
    )


async def known_statuses(ids: TaskIds, runtime: RuntimeDep) -> list[TaskStatus]:
    """The current status of each known id (unknown ones left out); 404 when none is known, since EventSource
    stops on a 404, while a stream that ends at once would have it reconnect for ever. A dependency: a streaming
    route's body runs after its answer has begun."""
    found = [known for task_id in dict.fromkeys(ids) if (known := await runtime.statuses.get(task_id))]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="None of these tasks is known (any more).")
    return found


@router.get("/ui/task-events", dependencies=[PAGE], response_class=EventSourceResponse)
async def task_list_events(
    currents: Annotated[list[TaskStatus], Depends(known_statuses)], request: Request, runtime: RuntimeDep
) -> AsyncIterator[ServerSentEvent]:
    """The running rows of the task list, followed in one stream (`event: status`, as the API's per task): the
    current status of each known id, then each change, closed when all are final."""
    async for event in status_events(request.app, statuses_changes(runtime.statuses, currents)):
        yield event
