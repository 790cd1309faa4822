"""Embedded mode's stand-in for Redis keys with a TTL: entries expire, and past a maximum the oldest go first,
so an in-process service's memory stays flat however many tasks it runs."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringMap(Generic[V]):
    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def set(self, key: str, value: V, *, ttl: float) -> None:
        """Store with a fresh TTL (a write renews it, as EXPIRE after each write does in Redis)."""
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        self._trim()

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        self._trim()
        return len(self._entries)

    def _trim(self) -> None:
        now = self._clock()
        while self._entries:
            expires_at, _ = next(iter(self._entries.values()))
            if len(self._entries) <= self._max and expires_at > now:
                return
            self._entries.popitem(last=False)
