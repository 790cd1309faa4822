"""Tracing on request: FastAPI and taskiq spans in one trace, and nothing of OpenTelemetry without it.

In-process, with an in-memory span exporter and the embedded broker the other integration tests use (one
process cannot share an in-memory exporter with another); `tests/e2e/test_tracing_e2e.py` follows a trace
from the API process to a worker process through the task message, with a loopback OTLP collector."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from taskiq.instrumentation import TaskiqInstrumentor

from app.broker import runtime
from app.config import Settings
from app.main import create_app
from app.observability import tracing
from tests.auth import admin_client


@pytest.fixture
def exported() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument_broker(runtime.broker, provider)
    try:
        yield provider, exporter
    finally:
        TaskiqInstrumentor().uninstrument_broker(runtime.broker)


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_a_request_and_the_task_it_enqueued_are_one_trace(
    embedded_settings: Settings, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = exported
    app = create_app(embedded_settings, tracer_provider=provider)
    async with app.router.lifespan_context(app), admin_client(app) as client:
        response = await client.post("/collect/beatport/collect", json={"genre": 11})
        task_id = response.json()["task_id"]
        for _ in range(600):
            if any(s.name == "execute/collect_bp_tracks" for s in exporter.get_finished_spans()):
                break
            await asyncio.sleep(0.05)
    spans = list(exporter.get_finished_spans())
    server = _one(spans, "POST /collect/beatport/collect")
    send = _one(spans, "send/collect_bp_tracks")
    execute = _one(spans, "execute/collect_bp_tracks")
    assert (
        server.kind is SpanKind.SERVER
        and send.kind is SpanKind.PRODUCER
        and execute.kind is SpanKind.CONSUMER
    )
    assert server.context is not None and send.context is not None and execute.parent is not None
    assert {s.context.trace_id for s in (server, send, execute) if s.context} == {server.context.trace_id}
    assert execute.parent.span_id == send.context.span_id  # the task continues the request's trace
    assert send.attributes is not None and send.attributes["messaging.message.id"] == task_id


# What the processes would load only to trace: the SDK's tracer, its exporter, taskiq's middleware, ours.
TRACING_MODULES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter",
    "taskiq.middlewares.opentelemetry_middleware",
    "app.observability.tracing",
)
PROBE = (
    "import json, sys, app.main, app.worker; "
    f"loaded = sorted({{m for m in sys.modules if m.startswith({TRACING_MODULES!r})}}); "
    "middlewares = [type(m).__name__ for m in app.worker.broker.middlewares]; "
    "print(json.dumps({'loaded': loaded, 'middlewares': middlewares, "
    "'fastapi_tracing': app.main.app._telemetry.get('tracing')}))"
)


def _probe(**env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "REDIS_", "DATABASE_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_without_an_endpoint_nothing_traces() -> None:
    """FastAPI itself depends on opentelemetry-api (and redis-py imports the SDK's metrics when it is
    installed); what tracing adds is neither loaded nor wired without OTEL_EXPORTER_OTLP_ENDPOINT."""
    plain = _probe()
    assert plain == {"loaded": [], "middlewares": ["LifecycleMiddleware"], "fastapi_tracing": False}, plain
    traced = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert "opentelemetry.sdk.trace" in traced["loaded"] and "app.observability.tracing" in traced["loaded"]
    assert traced["middlewares"] == ["OpenTelemetryMiddleware", "LifecycleMiddleware"]
    assert traced["fastapi_tracing"] is True


def test_the_process_role_comes_from_the_command() -> None:
    assert tracing.process_role(["/venv/bin/taskiq", "worker", "app.worker:broker"]) == "worker"
    # taskiq drops its own name from the argv of its worker processes
    assert tracing.process_role(["worker", "app.worker:broker", "--workers", "2"]) == "worker"
    assert tracing.process_role(["scheduler", "app.scheduler:scheduler"]) == "scheduler"
    assert tracing.process_role(["/venv/bin/uvicorn", "app.main:app"]) == "api"
