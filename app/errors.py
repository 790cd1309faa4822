"""Error taxonomy shared by sources, services and the task layer.

Transient errors are retried with backoff (honouring `retry_after`); permanent ones fail the task at once.
Messages are written for a person reading the task status: they name the URL and what was wrong.
"""

from __future__ import annotations


class CratediggerError(Exception):
    """Base class: `str(error)` is the readable message shown in task statuses."""


class TransientSourceError(CratediggerError):
    """The far end may answer next time (timeouts, 429, 5xx, bot challenges)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BotChallengeError(TransientSourceError):
    """Beatport answered a page with a bot challenge (Cloudflare): `auto` collection switches to the API."""


class PermanentSourceError(CratediggerError):
    """Retrying cannot help (a page whose structure changed, 404, rejected credentials)."""


class InvalidTargetError(CratediggerError, ValueError):
    """A collection target (URL, path or genre) that Cratedigger does not support."""


def is_transient(error: BaseException) -> bool:
    """Worth retrying: the far end or our own infrastructure may answer next time.

    A task's own time budget running out (TimeoutError from the receiver) is final, not transient.
    """
    import httpx
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, PermanentSourceError | InvalidTargetError):
        return False
    if isinstance(
        error, TransientSourceError | httpx.TransportError | RedisConnectionError | RedisTimeoutError
    ):
        return True
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, ConnectionError)  # refused/reset sockets (asyncpg raises these bare)


def retry_after_of(error: BaseException) -> float | None:
    return error.retry_after if isinstance(error, TransientSourceError) else None
