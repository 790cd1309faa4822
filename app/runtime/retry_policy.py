"""Which failures a task retries: the far end or our own infrastructure may answer next time."""

from __future__ import annotations

from app.db.connection_errors import is_database_unavailable
from app.errors import InvalidTargetError, PermanentSourceError
from app.errors import is_transient as is_transient_source_error


def is_transient(error: BaseException) -> bool:
    """A site's transient errors, Redis hiccups, and a database refusing or dropping connections. A task's own
    time budget running out (TimeoutError from the receiver) is final."""
    if type(error) is TimeoutError or isinstance(error, PermanentSourceError | InvalidTargetError):
        return False
    return is_transient_source_error(error) or is_database_unavailable(error)
