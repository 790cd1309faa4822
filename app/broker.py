"""The one import-time object: the runtime the taskiq commands and `@broker.task` need.

`taskiq worker app.worker:broker` and `taskiq scheduler app.scheduler:scheduler` import this; the API uses
the same instance (its lifespan attaches it to the app, and routes and tasks reach it through dependencies).
"""

from __future__ import annotations

import taskiq_fastapi

from app.config import get_settings
from app.runtime import build_runtime

settings = get_settings()
runtime = build_runtime(settings)
broker = runtime.broker
# Workers run the FastAPI lifespan, so tasks get the same engine, HTTP clients and settings as routes.
taskiq_fastapi.init(broker, "app.main:app")
