"""The one import-time object: the runtime the taskiq commands and `@broker.task` need.

`taskiq worker app.worker:broker` and `taskiq scheduler app.scheduler:scheduler` import this; the API uses
the same instance (its lifespan attaches it to the app, and routes and tasks reach it through dependencies).
"""

from __future__ import annotations

import sys

import taskiq_fastapi

from app.config import get_settings
from app.observability.logs import configure_logging
from app.observability.metrics import configure_metrics
from app.runtime import build_runtime

settings = get_settings()
# Every process imports this first (api through app.main, worker, scheduler): one logging and metrics set-up.
configure_logging(settings)
configure_metrics(settings)
if settings.redis_url and settings.secret_key is None:
    sys.exit(
        "SECRET_KEY is not set: with REDIS_URL, stored user tokens are sealed with it. Set SECRET_KEY (e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) in the environment or .env."
    )
runtime = build_runtime(settings)
broker = runtime.broker
if settings.otel_exporter_otlp_endpoint is not None:  # else OpenTelemetry is never imported
    from app.observability import tracing

    tracing.install(settings, broker)
# Workers run the FastAPI lifespan, so tasks get the same engine, HTTP clients and settings as routes.
taskiq_fastapi.init(broker, "app.main:app")
