"""The FastAPI application (`uvicorn app.main:app`). Its lifespan also runs inside workers (taskiq_fastapi)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import TracerProvider
from taskiq_fastapi import populate_dependency_context

from app.api import (
    chart_routes,
    collect_routes,
    feed_routes,
    health_routes,
    match_routes,
    metrics_routes,
    playlist_routes,
    schedule_routes,
    spotify_auth_routes,
    task_event_routes,
    task_routes,
    track_routes,
    watchlist_routes,
)
from app.api.access import document_access
from app.api.error_handlers import install_error_handlers
from app.api.key_rate_limit import KeyRateLimit
from app.api.request_limits import RequestSizeLimit
from app.api.responses import EVERY_ENDPOINT
from app.api.strict_query import refuse_unknown_query_parameters
from app.broker import runtime
from app.config import Settings, get_settings
from app.observability.request_ids import HEADER as REQUEST_ID_HEADER
from app.observability.request_ids import RequestIdMiddleware
from app.runtime import NOT_DURABLE_WARNING, Runtime
from app.services.resources import Resources
from app.web import install_dashboard

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    current: Runtime = app.state.runtime
    broker = current.broker
    if not current.durable:
        logger.warning(NOT_DURABLE_WARNING)
    resources = Resources.open(settings, redis=current.redis)
    app.state.resources = resources
    app.state.key_rate_limit = KeyRateLimit(
        per_minute=settings.api_key_requests_per_minute, redis=current.redis
    )
    current.outbox.sessions = resources.sessions  # dead letters go to this process's database
    if not broker.is_worker_process:
        # In the API this also declares the stream's consumer group before the first enqueue, so no task
        # sent before a worker starts is skipped.
        await broker.startup()
        if not current.durable:
            populate_dependency_context(broker, app)  # in-process tasks resolve the same dependencies
    try:
        yield
    finally:
        await resources.close()
        if not broker.is_worker_process:
            await broker.shutdown()
            await current.close()


def _telemetry(settings: Settings, tracer_provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's built-in OpenTelemetry: request spans with OTEL_EXPORTER_OTLP_ENDPOINT (the tracer provider
    `app.observability.tracing` made global, or a test's), else off (not even a check per request)."""
    if settings.otel_exporter_otlp_endpoint is None and tracer_provider is None:
        return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    # Metrics are /metrics' job and logs go to stderr: only spans go to the collector.
    config: TelemetryConfig = {"metrics": False, "logs": False, "auto_configure": False}
    if tracer_provider is not None:
        config["tracer_provider"] = tracer_provider
    return config


def create_app(
    settings: Settings | None = None,
    *,
    task_runtime: Runtime | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app; tests pass their own Settings (e.g. a fake Beatport's URL), processes use the environment
    and the one runtime `app.broker` built (a test listing statuses with a short TTL hands its own, a tracing
    test its tracer provider)."""
    settings = settings or get_settings()
    app = FastAPI(
        telemetry=_telemetry(settings, tracer_provider),
        title="Cratedigger",
        summary="Collects Beatport tracks and enriches them with Spotify data in durable background tasks.",
        lifespan=lifespan,
        responses=EVERY_ENDPOINT,
        dependencies=[Depends(refuse_unknown_query_parameters)],
    )
    app.state.settings = settings
    app.state.runtime = task_runtime or runtime
    for router_module in (
        collect_routes,
        task_routes,
        task_event_routes,  # after task_routes: /tasks/status/{task_id} is matched first
        health_routes,
        metrics_routes,
        track_routes,
        match_routes,
        schedule_routes,
        watchlist_routes,
        feed_routes,
        spotify_auth_routes,
        playlist_routes,
    ):
        app.include_router(router_module.router)
    app.include_router(chart_routes.router)

    install_error_handlers(app)
    install_dashboard(app)  # after the API's error handlers: its pages answer their refusals in HTML
    document_access(app)
    app.add_middleware(RequestSizeLimit, max_bytes=app.state.settings.max_request_bytes)
    origins = app.state.settings.cors_allow_origins
    if origins:  # off by default: browsers on other origins may not call the API at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries it, refusals included
    return app


app = create_app()
