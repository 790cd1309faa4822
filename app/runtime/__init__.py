"""The task machinery: brokers, the lifecycle middleware, statuses, duplicate claims, enqueueing, workers.

`build_runtime(settings)` wires it; `app/broker.py` holds the one instance the taskiq commands import.
"""

from app.runtime.build import NOT_DURABLE_WARNING, Runtime, build_runtime

__all__ = ["NOT_DURABLE_WARNING", "Runtime", "build_runtime"]
