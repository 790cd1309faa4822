"""Reading `GET /tasks/{id}/events` as a browser's EventSource would: events are blocks of `field: value` lines
ended by a blank line; lines starting with `:` are comments (keep-alives)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

# A task's states in the order they can follow one another (retrying goes back to running).
STATE_RANK = {"queued": 0, "running": 1, "retrying": 1, "success": 2, "failure": 2, "cancelled": 2}
FINAL_STATES = {"success", "failure", "cancelled"}


@dataclass
class Comment:
    text: str


@dataclass
class StatusEvents:
    """The events of one stream, read on demand from its lines (httpx's `iter_lines()`)."""

    lines: Iterable[str]
    statuses: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False

    def __post_init__(self) -> None:
        self._items = self._parse(iter(self.lines))

    def _parse(self, lines: Iterator[str]) -> Iterator[Comment | dict[str, Any]]:
        event: str | None = None
        data: list[str] = []
        for line in lines:
            if line.startswith(":"):
                yield Comment(line[1:].strip())
            elif line == "" and (event is not None or data):
                assert event == "status", f"unexpected event {event!r}"
                yield json.loads("\n".join(data))
                event, data = None, []
            elif line:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
        assert event is None and not data, "the stream ended inside an event"
        self.ended = True

    def next_item(self) -> Comment | dict[str, Any] | None:
        """The next comment or status; None once the server closed the stream."""
        item = next(self._items, None)
        if isinstance(item, Comment):
            self.comments.append(item.text)
        elif item is not None:
            self.statuses.append(item)
        return item

    def next_status(self) -> dict[str, Any] | None:
        while (item := self.next_item()) is not None:
            if not isinstance(item, Comment):
                return item
        return None

    def until(self, wanted: str) -> dict[str, Any]:
        """Read statuses until one in state `wanted` (or a final one) arrives."""
        while (status := self.next_status()) is not None:
            if status["state"] == wanted or status["state"] in FINAL_STATES:
                return status
        raise AssertionError(f"the stream ended before {wanted!r}: {self.statuses}")

    def rest(self) -> list[dict[str, Any]]:
        """Every status up to the end of the stream."""
        while self.next_item() is not None:
            pass
        return self.statuses


def assert_in_lifecycle_order(statuses: list[dict[str, Any]]) -> None:
    """Each event differs from the one before, states only move forward, progress never goes back, and only
    the last event is final."""
    assert statuses, "no events"
    for before, after in itertools.pairwise(statuses):
        assert before != after, f"an event repeated the one before: {after}"
        assert STATE_RANK[before["state"]] <= STATE_RANK[after["state"]], statuses
        done = [(s["progress"] or {}).get("done", 0) for s in (before, after)]
        assert done[0] <= done[1], statuses
    assert [s["state"] in FINAL_STATES for s in statuses].count(True) == 1, statuses
    assert statuses[-1]["state"] in FINAL_STATES


def open_event_streams(base: str) -> int:
    """The API's `cratedigger_task_event_streams` gauge: event streams it is serving right now."""
    metrics = httpx.get(f"{base}/metrics").text
    found = re.search(r"^cratedigger_task_event_streams (\d+)(?:\.0)?$", metrics, re.MULTILINE)
    assert found, metrics
    return int(found.group(1))
