"""One dependency mechanism for routes and tasks: each function takes the request (FastAPI injects it in
routes; `taskiq_fastapi` gives tasks the app's request), so both reach the same objects the lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from taskiq import Context, TaskiqDepends

from app.runtime import Runtime
from app.services.resources import Resources


def get_resources(request: Annotated[Request, TaskiqDepends()]) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_runtime(request: Annotated[Request, TaskiqDepends()]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# Task parameter defaults (not Annotated aliases) keep these out of `.kiq()`'s typed signature: callers pass
# data only. Routes use the Annotated aliases in app/api/deps.py, built on the same functions.
ResourcesParam: Resources = TaskiqDepends(get_resources)
RuntimeParam: Runtime = TaskiqDepends(get_runtime)
ContextParam: Context = TaskiqDepends()
