"""Graceful worker shutdown: SIGTERM stops reading; running tasks get a grace period; the rest is handed back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class HandsBack(Protocol):
    async def hand_back_in_flight(self) -> int: ...


class GracefulShutdown:
    def __init__(self, broker: HandsBack, *, grace_seconds: float) -> None:
        self._broker = broker
        self._grace = grace_seconds
        self.stopping = False

    def install(self) -> None:
        """Wrap taskiq's handlers: SIGTERM reaches a worker directly, SIGINT when the `taskiq worker`
        parent process forwards a SIGTERM it received (docker stop)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def on_signal(
                received: int, frame: FrameType | None, previous: Callable[..., Any] | int | None = previous
            ) -> None:
                if not self.stopping:
                    self.stopping = True
                    loop.call_soon_threadsafe(self._start_grace_timer, loop)
                if callable(previous):
                    previous(received, frame)

            signal.signal(signum, on_signal)

    def _start_grace_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        logger.info("shutting down: running tasks get %.0f s to finish", self._grace)
        loop.call_later(self._grace, lambda: asyncio.ensure_future(self._grace_expired()))

    async def _grace_expired(self) -> None:
        count = await self._broker.hand_back_in_flight()
        if count:
            logger.warning(
                "grace period over: %d unfinished task(s) handed back to the queue; exiting", count
            )
            os._exit(0)
