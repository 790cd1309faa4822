"""`GET /tasks/{task_id}/events`: a task's status changes as Server-Sent Events (FastAPI's
EventSourceResponse: `text/event-stream`, `Cache-Control: no-cache`, a `: ping` comment after 15 s without an
event). Included after the task routes, so `/tasks/status/{task_id}` keeps its meaning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.access import READ
from app.api.deps import RuntimeDep
from app.api.responses import streaming_error_responses
from app.api.task_routes import KnownStatus
from app.runtime.status_watch import status_changes
from app.runtime.task_status import TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"])

STATUS_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"const": "status"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/TaskStatus"},
        },
    },
}


@dataclass
class OpenStreams:
    """Event streams this API process is serving (`cratedigger_task_event_streams` in /metrics)."""

    count: int = 0


def open_streams(app: FastAPI) -> OpenStreams:
    if not hasattr(app.state, "task_event_streams"):
        app.state.task_event_streams = OpenStreams()
    streams: OpenStreams = app.state.task_event_streams
    return streams


@router.get(
    "/{task_id}/events",
    name="task_events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "`event: status` with the status JSON as `data`, first the current one, then one "
            "per change; the stream ends after success, failure or cancelled",
            "content": {"text/event-stream": {"itemSchema": STATUS_EVENT}},
        },
        **streaming_error_responses(404),
    },
    dependencies=[READ],
)
async def task_events(
    current: KnownStatus, request: Request, runtime: RuntimeDep
) -> AsyncIterator[ServerSentEvent]:
    """The task's status as Server-Sent Events: `event: status` with the shape of `GET /tasks/status/{task_id}`
    as `data`, the current status first, then one event per change (seen within a quarter of a second;
    changes closer together arrive as one), closed after the final state. A comment line (`: ping`) keeps an
    idle stream open every 15 s. A finished task's stream is its one final event."""
    async for event in status_events(request.app, status_changes(runtime.statuses, current)):
        yield event


async def status_events(app: FastAPI, changes: AsyncIterator[TaskStatus]) -> AsyncIterator[ServerSentEvent]:
    """One `event: status` per status, counted among the process's open streams while the stream is open
    (the per-task stream here and the dashboard's task list stream)."""
    streams = open_streams(app)
    streams.count += 1
    try:
        async for status in changes:
            yield ServerSentEvent(event="status", data=status)
    finally:
        streams.count -= 1
