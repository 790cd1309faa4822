"""Tasks: the recent ones, newest first, filtered by state (and task name), from the status index the API's
`GET /tasks` reads; running ones follow their events live on the page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import RuntimeDep
from app.runtime.recent_tasks import TaskFilter, recent_tasks
from app.runtime.task_status import IndexKey, TaskState
from app.web.access import PAGE
from app.web.task_pages import task_view
from app.web.templating import page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
LIVE_ROWS = (
    4  # a browser keeps about six connections per site: the rest of the list shows its load-time state
)
TASK_NAMES = ("collect_bp_tracks", "enrich_spotify_data")
Text = Annotated[str, Query(max_length=200)]


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
    rows = [(status, task_view(status)) for status in listed.items] if listed else []
    live = [status.task_id for status, view in rows if not view["finished"]][:LIVE_ROWS]
    return page(
        request,
        "tasks.html",
        status_code=422 if errors else 200,
        title="Tasks",
        rows=rows,
        live=live,
        states=[s.value for s in TaskState],
        task_names=TASK_NAMES,
        chosen={"state": state, "task_name": task_name},
        next_cursor=listed.next_key.to_cursor() if listed and listed.next_key else None,
        errors=errors,
        durable=runtime.durable,
    )
