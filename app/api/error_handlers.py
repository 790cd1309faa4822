"""How failures reach API callers: short human messages, one error shape, the full exception only in the logs.

- A database that refuses or drops connections → 503 with `Retry-After` (the request may simply be repeated).
- Redis unreachable → 503 with `Retry-After`, worded for what the request wanted (a read, or an enqueue).
- Invalid input → 422 with FastAPI's `detail` list, each error's `input` cut to a short excerpt, so a 20 MB
  body is never echoed back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db.connection_errors import is_database_unavailable

logger = logging.getLogger("app.api")

RETRY_AFTER_SECONDS = 5
_PARAM = re.compile(r"(\{[^}]+\})")
EXCERPT_CHARS = 100
EXCERPT_ITEMS = 5
DATABASE_UNAVAILABLE = "The database is unavailable right now; try again in a few seconds."
QUEUE_UNAVAILABLE_WRITE = (
    "The task queue (Redis) is unreachable right now; nothing was enqueued. Try again shortly."
)
QUEUE_UNAVAILABLE_READ = "Task statuses (Redis) are unreachable right now; try again shortly."


def unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def excerpt(value: Any) -> Any:
    """A bounded copy of an input for an error message: long strings and collections are cut."""
    if isinstance(value, str):
        return value if len(value) <= EXCERPT_CHARS else value[:EXCERPT_CHARS] + "…"
    if isinstance(value, bytes):
        return excerpt(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        items = list(value.items())[:EXCERPT_ITEMS]
        return {str(excerpt(k)): excerpt(v) for k, v in items}
    if isinstance(value, Sequence):
        return [excerpt(v) for v in list(value[:EXCERPT_ITEMS])]
    return value


def _bounded_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    bounded = []
    for error in list(errors)[:20]:
        item = dict(error)
        if "input" in item:
            item["input"] = excerpt(item["input"])
        bounded.append(item)
    return bounded


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some operation answers at this path, read from the OpenAPI schema (Starlette's 405 names
    only the first route whose path matched)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        parts = _PARAM.split(template)  # literal text and {parameters}, alternating
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations}
    return sorted(methods | {"OPTIONS"}) if methods else []


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code != 405:
            return await http_exception_handler(request, error)
        allow = ", ".join(allowed_methods(app, request.url.path))
        if request.method == "OPTIONS":  # what may be done here, without CORS
            return Response(status_code=204, headers={"Allow": allow})
        detail = f"{request.method} is not supported here; allowed: {allow}."
        return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": allow})

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(_bounded_errors(error.errors()))}, status_code=422)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_unavailable(request: Request, error: Exception) -> JSONResponse:
        logger.warning("Redis unavailable during %s %s: %s", request.method, request.url.path, error)
        reading = request.method in ("GET", "HEAD")
        return unavailable(QUEUE_UNAVAILABLE_READ if reading else QUEUE_UNAVAILABLE_WRITE)

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        if not is_database_unavailable(error):
            raise error  # a bug, not an outage: the server's 500 path logs it
        logger.warning("database unavailable during %s %s: %r", request.method, request.url.path, error)
        return unavailable(DATABASE_UNAVAILABLE)

    # Registered per class (not for Exception), so Starlette answers here instead of re-raising to the server.
    for error_class in (DBAPIError, PoolTimeoutError, DisconnectionError, OSError):
        app.add_exception_handler(error_class, database_unavailable)
