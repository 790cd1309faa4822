"""Taskiq's result backend, answered from the status store: a task's result is part of its status record.

Saving happens with the status (`LifecycleMiddleware.post_save` → `StatusStore.finish`), in the same trip as
the acknowledgement, so `set_result` has nothing left to do.
"""

from __future__ import annotations

from typing import Any

from taskiq import AsyncResultBackend, TaskiqResult

from app.runtime.task_status import FINISHED_STATES, StatusStore, TaskState


class StatusResultBackend(AsyncResultBackend[Any]):
    def __init__(self, statuses: StatusStore) -> None:
        self._statuses = statuses

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        return None  # written by StatusStore.finish (success) or the lifecycle's failure path

    async def is_result_ready(self, task_id: str) -> bool:
        status = await self._statuses.get(task_id)
        return status is not None and status.state in FINISHED_STATES

    async def get_result(self, task_id: str, with_logs: bool = False) -> TaskiqResult[Any]:
        status = await self._statuses.get(task_id)
        if status is None or status.state not in FINISHED_STATES:
            raise LookupError(f"task {task_id} has no result yet")
        error = (
            None
            if status.state != TaskState.FAILURE
            else RuntimeError(status.error.message if status.error else "")
        )
        return TaskiqResult(
            is_err=error is not None, return_value=status.result, execution_time=0.0, error=error, log=None
        )
