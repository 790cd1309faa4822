"""The FastAPI application (`uvicorn app.main:app`). Its lifespan also runs inside workers (taskiq_fastapi)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq_fastapi import populate_dependency_context

from app.api import collection, health, schedules, tasks, tracks
from app.broker import NOT_DURABLE_WARNING, broker, is_durable, lifecycle, status_store
from app.config import Settings, get_settings
from app.resources import Resources

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not is_durable():
        logger.warning(NOT_DURABLE_WARNING)
    resources = Resources.open(settings)
    app.state.resources = resources
    lifecycle.sessions = resources.sessions  # dead letters go to this process's database
    if not broker.is_worker_process:
        # In the API this also declares the stream's consumer group (created at `$`) before the first
        # enqueue, so no task sent before a worker starts is skipped.
        await broker.startup()
        if not is_durable():
            populate_dependency_context(broker, app)  # in-process tasks resolve the same dependencies
    try:
        yield
    finally:
        if not broker.is_worker_process:
            await broker.shutdown()
            await status_store.close()
        await resources.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own Settings (e.g. a fake Beatport's URL), processes use the environment."""
    app = FastAPI(
        title="Cratedigger",
        summary="Collects Beatport tracks and enriches them with Spotify data in durable background tasks.",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    app.include_router(collection.router)
    app.include_router(tasks.router)
    app.include_router(health.router)
    app.include_router(tracks.router)
    app.include_router(schedules.router)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_unavailable(request: Request, error: Exception) -> JSONResponse:
        logger.warning("Redis unavailable during %s %s: %s", request.method, request.url.path, error)
        return JSONResponse(
            {
                "detail": "The task queue (Redis) is unreachable right now; nothing was enqueued. Try again shortly."
            },
            status_code=503,
        )

    return app


app = create_app()
