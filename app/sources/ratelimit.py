"""Request pacing shared by the coroutines of one process (Beatport fetcher, Spotify client)."""

from __future__ import annotations

import asyncio
import threading
import time


class AsyncRateLimiter:
    """Space calls `1 / rate_per_second` apart on the monotonic clock; `None` or `0` means unlimited.

    Each `acquire()` reserves the next free slot and then sleeps until it. The reservation is a few
    lines under a `threading.Lock` with no `await` inside, so it is atomic for concurrent coroutines and
    the limiter is not bound to one event loop (asyncio.Lock would be) — a process-wide instance can be
    shared by every client and every loop in the process. A cancelled waiter leaves its slot unused,
    which only errs on the side of sending less.
    """

    def __init__(self, rate_per_second: float | None) -> None:
        if rate_per_second is not None and rate_per_second < 0:
            raise ValueError("rate_per_second must be positive, 0 or None (unlimited)")
        self.rate_per_second = rate_per_second or None
        self._interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self._next_slot = 0.0
        self._held_until = 0.0
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.rate_per_second is None

    def _reserve(self) -> float:
        """Claim the next slot; return how long to wait for it."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        return slot - now

    async def acquire(self) -> None:
        delay = self._reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    async def acquire_local_hold(self) -> None:
        """Wait out a pause this process was told about (`hold`), without reserving a slot."""
        with self._lock:
            delay = self._held_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def hold(self, seconds: float) -> None:
        """Let no caller through for `seconds` from now (e.g. a 429's Retry-After applies to everyone).

        Works for an unlimited limiter too: the pause is honoured, pacing stays off afterwards.
        """
        if seconds <= 0:
            return
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)
            self._held_until = max(self._held_until, time.monotonic() + seconds)
