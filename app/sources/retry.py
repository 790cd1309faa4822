"""The inline retry both Beatport sources use inside one request, before the task's retry policy takes over."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.errors import TransientSourceError
from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Retry-After values up to this are waited out inside the request; longer ones go back to the task's retry policy.
MAX_INLINE_RETRY_AFTER_SECONDS = 30.0


async def retry_transient(
    call: Callable[[], Awaitable[T]], *, attempts: int, backoff_base: float, limiter: AsyncRateLimiter
) -> T:
    """Run `call`; on a TransientSourceError wait (Retry-After, else exponential backoff with jitter) and retry.

    The wait is applied through the shared limiter, so every request to that host in the process waits too.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TransientSourceError as error:
            wait = error.retry_after
            if wait is None:
                wait = backoff_base * 2 ** (attempt - 1) * (0.5 + random.random())
            if attempt == attempts or wait > MAX_INLINE_RETRY_AFTER_SECONDS:
                raise
            logger.info("%s; retrying in %.1f s (attempt %d/%d)", error, wait, attempt, attempts)
            limiter.hold(wait)
    raise AssertionError("unreachable")
