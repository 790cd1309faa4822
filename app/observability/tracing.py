"""OpenTelemetry, on request: imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set (by `app.broker`, which
every process imports first), so without it no tracer, exporter or span processor exists.

Spans: FastAPI's own (its built-in telemetry: a server span per request, with spans for dependencies and the
endpoint; it follows the global tracer provider set here, and `app.main` turns it off without an endpoint) and
taskiq's own OpenTelemetryMiddleware (`send/<task>` where a task is enqueued, `execute/<task>` where it runs). The middleware writes the trace context into the task
message's labels (`traceparent`), so the worker's span continues the trace of the API call that enqueued the
task, across processes; the send span carries the task id (`messaging.message.id`). Exported over OTLP/HTTP to
`<endpoint>/v1/traces`; the SDK's other OTEL_* variables (headers, sampler, resource attributes) apply.
"""

from __future__ import annotations

import asyncio
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from taskiq.instrumentation import TaskiqInstrumentor

from app.config import Settings

PROCESS_ATTRIBUTE = "cratedigger.process"


def process_role(argv: list[str] | None = None) -> str:
    """api, worker or scheduler, from the command this process runs: `taskiq worker …` (taskiq drops its own
    name from `sys.argv` before running the subcommand, so `worker` may come first), else `uvicorn …`."""
    args = sys.argv if argv is None else argv
    return next((arg for arg in args[:2] if arg in ("worker", "scheduler")), "api")


def tracer_provider(settings: Settings, *, role: str) -> TracerProvider:
    assert settings.otel_exporter_otlp_endpoint is not None
    resource = Resource.create({"service.name": settings.otel_service_name, PROCESS_ATTRIBUTE: role})
    provider = TracerProvider(resource=resource)
    endpoint = str(settings.otel_exporter_otlp_endpoint).rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def instrument_broker(broker: AsyncBroker, provider: trace.TracerProvider) -> None:
    """taskiq's OpenTelemetryMiddleware, first on the broker: its spans enclose the other middlewares'."""
    TaskiqInstrumentor().instrument_broker(broker, tracer_provider=provider)


def install(settings: Settings, broker: AsyncBroker) -> None:
    """This process's tracer (exported in the background) and its broker's spans. Spans still waiting are sent
    when a worker process shuts down: taskiq's worker processes end without running `atexit` handlers."""
    provider = tracer_provider(settings, role=process_role())
    trace.set_tracer_provider(provider)
    instrument_broker(broker, provider)

    async def flush(_state: TaskiqState) -> None:
        await asyncio.to_thread(provider.force_flush)

    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, flush)
