from __future__ import annotations

from typing import Protocol


class ReportProgress(Protocol):
    """How a service tells whoever runs it how far it got (the task status, a CLI, a test)."""

    async def __call__(self, *, done: int, total: int | None, message: str) -> None: ...


class CancelCheck(Protocol):
    """Asked at page/track boundaries: has the user cancelled this work?"""

    async def __call__(self) -> bool: ...


async def no_progress(*, done: int, total: int | None, message: str) -> None:
    return None


async def never_cancelled() -> bool:
    return False
