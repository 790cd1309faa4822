from __future__ import annotations

from typing import Annotated

from fastapi import Request
from taskiq import Context, TaskiqDepends

from app.resources import Resources


def get_resources(request: Annotated[Request, TaskiqDepends()]) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


# Defaults (not Annotated aliases) keep these out of `.kiq()`'s typed signature: callers pass data only.
ResourcesDep: Resources = TaskiqDepends(get_resources)
ContextDep: Context = TaskiqDepends()
