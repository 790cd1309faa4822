"""Embedded mode: tasks run inside the API process, with the `delay` label, cancellation and attempts honoured
as in the durable broker (nothing survives a restart; start-up says so)."""

from __future__ import annotations

import asyncio
from typing import Any

from taskiq import InMemoryBroker
from taskiq.message import BrokerMessage

from app.runtime.stream_broker import ATTEMPT_LABEL, message_delay
from app.runtime.task_status import START_CANCELLED, StatusStore


class DelayingInMemoryBroker(InMemoryBroker):
    def __init__(self, *, statuses: StatusStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.statuses = statuses
        self._delayed: set[asyncio.Task[None]] = set()

    async def kick(self, message: BrokerMessage) -> None:
        delay = message_delay(message.labels)
        if delay <= 0:
            await self._start_and_run(message)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            await self._start_and_run(message)

        task = asyncio.create_task(later())
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _start_and_run(self, message: BrokerMessage) -> None:
        attempt = await self.statuses.start(message.task_id, task_name=message.task_name)
        if attempt == START_CANCELLED:
            return
        parsed = self.formatter.loads(message.message)
        parsed.labels[ATTEMPT_LABEL] = attempt
        await super().kick(self.formatter.dumps(parsed))

    async def shutdown(self) -> None:
        for task in self._delayed:
            task.cancel()
        await super().shutdown()
