"""The fields every log line carries while they apply: `request_id` for the API call being served (and the
tasks it enqueued), `task_id`, `task_name` and `attempt` while a task runs.

A context variable, so each request and each task (its own asyncio task) sees only its own fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

LogFields = Mapping[str, str | int]
FIELD_NAMES = ("request_id", "task_id", "task_name", "attempt")

_fields: ContextVar[LogFields] = ContextVar("cratedigger_log_fields", default=MappingProxyType({}))


def current() -> LogFields:
    return _fields.get()


def bind(**fields: str | int | None) -> Token[LogFields]:
    """Add fields (None ones are left out) for the rest of this context; `unbind` restores the ones before."""
    merged = {**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _fields.set(MappingProxyType(merged))


def unbind(token: Token[LogFields]) -> None:
    _fields.reset(token)


def request_id() -> str | None:
    value = _fields.get().get("request_id")
    return str(value) if value is not None else None
