"""What a task's status says about an error: short and human. The full exception goes to the logs and, with
its traceback, to the dead letter."""

from __future__ import annotations

import re

from app.db.connection_errors import is_database_unavailable
from app.runtime.task_status import ErrorInfo

MAX_MESSAGE_CHARS = 300
_WRAPPER = re.compile(r"^\([\w.]+\) ")


def error_report(error: BaseException) -> ErrorInfo:
    # A bare TimeoutError is a task's time budget running out, not the database.
    if type(error) is not TimeoutError and is_database_unavailable(error):
        return ErrorInfo(
            type="DatabaseUnavailable", message=f"the database was unavailable: {_reason(error)}"
        )
    return ErrorInfo(type=type(error).__name__, message=_first_line(str(error)) or type(error).__name__)


def _reason(error: BaseException) -> str:
    """The driver's own words (not SQLAlchemy's SQL, parameters and help link)."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    return _first_line(str(cause)) or type(cause).__name__


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    line = _WRAPPER.sub("", line)  # SQLAlchemy's "(sqlalchemy.dialects….Error) " prefix
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"
