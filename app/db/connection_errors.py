"""Which database errors mean "the database is unavailable right now" (retry later) rather than a bug."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes and codes of a database that refuses or drops connections, or is overloaded.
_UNAVAILABLE_CLASSES = ("08", "53")  # connection exception; insufficient resources (too many connections)
_UNAVAILABLE_CODES = frozenset(
    {"57P01", "57P02", "57P03", "40001", "40P01"}
)  # shutdown, cannot connect now, …
_NOT_ACCEPTING = "not currently accepting connections"  # ALLOW_CONNECTIONS false (SQLSTATE 55000)


def is_database_unavailable(error: BaseException) -> bool:
    """True for refused, dropped or exhausted connections (including pool timeouts), anywhere in the chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable(current):
            return True
        current = current.__cause__  # explicit `raise … from …` only: a context may be unrelated
    return False


def _unavailable(error: BaseException) -> bool:
    if isinstance(error, PoolTimeoutError | DisconnectionError | OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno is None and "connect" in str(error).lower():
        return True  # asyncpg's "Multiple exceptions: [Errno 111] Connect call failed …"
    code = getattr(error, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", None)
    if isinstance(code, str) and (code[:2] in _UNAVAILABLE_CLASSES or code in _UNAVAILABLE_CODES):
        return True
    return _NOT_ACCEPTING in str(error)
