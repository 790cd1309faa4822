"""What a worker process is running: its deliveries, the record of each task's start, and which messages
finishing already acknowledged. Shared by the stream broker and the lifecycle middleware of one process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.runtime.task_status import Delivery


@dataclass
class Deliveries:
    """Messages this worker process is running."""

    running: dict[str, Delivery] = field(default_factory=dict)
    by_task: dict[str, str] = field(default_factory=dict)  # task id → message id
    # The write recording each running task's start (one per read), and the task's place in it.
    starts: dict[str, tuple[asyncio.Future[list[int]], int]] = field(default_factory=dict)
    # Need no XACK from the acker: finishing acknowledged them, or left them to be delivered again.
    settled: set[str] = field(default_factory=set)

    def delivery_of(self, task_id: str) -> Delivery | None:
        message_id = self.by_task.get(task_id)
        return self.running.get(message_id) if message_id else None

    async def attempt_of(self, task_id: str) -> int | None:
        """The attempt number recorded when the task started (waits for that write); None if unknown."""
        start = self.starts.get(task_id)
        if start is None:
            return None
        batch, index = start
        try:
            outcome = (await batch)[index]
        except Exception:  # Redis failed: the caller falls back on the message's own labels
            return None
        return outcome if outcome > 0 else None

    def forget(self, message_id: str) -> Delivery | None:
        delivery = self.running.pop(message_id, None)
        if delivery is not None and self.by_task.get(delivery.task_id) == message_id:
            del self.by_task[delivery.task_id]
            self.starts.pop(delivery.task_id, None)
        return delivery
