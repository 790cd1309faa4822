"""Unknown query parameters are refused (422 naming them), as `GET /tracks` always did: a misspelt filter
(`?limt=5`) must not be silently ignored."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel


def _declared(route: APIRoute) -> set[str] | None:
    """The query parameter names the route and its dependencies take; None when a model takes them (it
    refuses extras itself)."""
    names: set[str] = set()
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for field in dependant.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                return None
            names.add(field.alias)
    return names


async def refuse_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # the dashboard's pages read their forms' queries themselves and show mistakes on the page
    declared = _declared(route)
    if declared is None:
        return
    unknown = [name for name in request.query_params if name not in declared]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter"
                    + (
                        f": this endpoint takes {', '.join(sorted(declared))}"
                        if declared
                        else ": this endpoint takes none"
                    ),
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )
