"""One Redis connection pool per process, shared by the broker, the status store, claims and services."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Redis calls must fail fast (a 503 from the API, a retry in the worker) rather than hang while Redis is away.
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


def redis_connection_kwargs() -> dict[str, Any]:
    """Fail fast while Redis is away, and retry once on a connection that a Redis restart left stale
    (refused connections fail at once, so an outage still answers quickly)."""
    return {
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "retry_on_error": [RedisConnectionError],
    }


def connect_redis(url: str, **overrides: Any) -> Redis:
    """A client owning a new pool (closed with it). Connections open lazily: building one does no I/O."""
    return Redis.from_url(url, **{**redis_connection_kwargs(), **overrides})


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
