"""`GET /tasks/{id}/events` in embedded mode, served by uvicorn in a thread so the stream is read as it is
written: the current status first, one event per change, keep-alive comments while idle, closed after the
final state, and a client that leaves ends the server's loop."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fastapi.routing
import httpx
import pytest
import uvicorn

from app.config import Settings
from app.main import create_app
from tests.auth import ADMIN_HEADERS, ADMIN_KEY
from tests.e2e.processes import free_port, wait_until
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_HTML, GENRE_TOP100_PATH, load_text
from tests.sse import StatusEvents, assert_in_lifecycle_order, open_event_streams


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The embedded app under uvicorn on a loopback port (its lifespan runs in the server's thread)."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def held_top100(fake_site: FakeHTTPServer) -> Iterator[threading.Event]:
    """The Top 100 page answers only once the test sets the event: a collection stays running until then."""
    release = threading.Event()
    fake_site.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML), hold=release))
    yield release
    release.set()


def collect(base: str) -> str:
    response = httpx.post(
        f"{base}/collect/beatport/collect", json={"genre": "tech-house"}, headers=ADMIN_HEADERS
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def status_of(base: str, task_id: str) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(f"{base}/tasks/status/{task_id}", headers=ADMIN_HEADERS).json()
    return status


def test_events_follow_a_collection_and_keep_an_idle_stream_alive(
    embedded_settings: Settings, held_top100: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.3)  # FastAPI's 15 s keep-alive, shortened
    with (
        serving(embedded_settings) as base,
        httpx.stream(
            "GET", f"{base}/tasks/{collect(base)}/events", headers=ADMIN_HEADERS, timeout=30
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = StatusEvents(response.iter_lines())
        first = events.next_status()
        assert first is not None and first["state"] in {"queued", "running"}, first
        assert set(first) >= {"task_id", "task_name", "state", "progress", "result", "error", "attempt"}
        if first["state"] == "queued":
            assert events.until("running")["state"] == "running"
        while not events.comments:  # the page is held: nothing changes, so keep-alive comments come
            assert events.next_item() is not None
        assert events.comments[0] == "ping"
        held_top100.set()
        statuses = events.rest()
    assert events.ended
    assert_in_lifecycle_order(statuses)
    assert statuses[-1]["state"] == "success", statuses[-1]
    assert statuses[-1]["result"]["tracks_created"] == 100 and statuses[-1]["progress"]["done"] == 1


def test_a_client_that_leaves_ends_its_stream(
    embedded_settings: Settings, held_top100: threading.Event
) -> None:
    with serving(embedded_settings) as base:
        task_id = collect(base)
        assert open_event_streams(base) == 0
        with httpx.stream(
            "GET", f"{base}/tasks/{task_id}/events", headers=ADMIN_HEADERS, timeout=30
        ) as response:
            events = StatusEvents(response.iter_lines())
            assert events.next_status() is not None
            assert open_event_streams(base) == 1
        wait_until(
            lambda: open_event_streams(base) == 0,
            what="the server to stop following a task nobody listens to",
        )
        assert status_of(base, task_id)["state"] == "running"  # only the client's leaving ended the loop
        held_top100.set()
        wait_until(lambda: status_of(base, task_id)["state"] == "success", what="the collection to finish")


async def test_a_finished_tasks_stream_is_its_final_status(client: httpx.AsyncClient) -> None:
    response = await client.post("/collect/beatport/collect", json={"genre": "tech-house"})
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 30
    while (await client.get(f"/tasks/status/{task_id}")).json()["state"] != "success":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    started = time.monotonic()
    events = await client.get(f"/tasks/{task_id}/events")
    assert time.monotonic() - started < 2  # answered at once: nothing left to follow
    assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
    (final,) = StatusEvents(events.text.splitlines()).rest()
    assert final == (await client.get(f"/tasks/status/{task_id}")).json()


async def test_events_of_an_unknown_task_are_404(client: httpx.AsyncClient) -> None:
    for task_id in ("0123456789abcdef0123456789abcdef", "not a task id"):
        response = await client.get(f"/tasks/{task_id}/events")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert "No task with id" in response.json()["detail"]


@contextmanager
def signed_in(base: str) -> Iterator[httpx.Client]:
    """A dashboard session, as a browser keeps it (cookie; no Authorization header)."""
    with httpx.Client(base_url=base, headers={"Origin": base}, timeout=30) as http:
        token = re.search(r'name="login_token" value="([^"]+)"', http.get("/ui/login").text)
        assert token is not None
        answer = http.post(
            "/ui/login", data={"login_token": token.group(1), "key": ADMIN_KEY, "next": "/ui/tasks"}
        )
        assert answer.status_code == 303, answer.text
        yield http


def test_the_task_lists_running_rows_share_one_stream(
    embedded_settings: Settings, held_top100: threading.Event
) -> None:
    with serving(embedded_settings) as base, signed_in(base) as http:
        running = collect(base)
        failed = httpx.post(
            f"{base}/collect/beatport/collect", json={"url": "/chart/gone/1"}, headers=ADMIN_HEADERS
        ).json()["task_id"]  # the fake Beatport answers 404: a permanent failure
        wait_until(lambda: status_of(base, failed)["state"] == "failure", what="the failed collection")
        wait_until(lambda: status_of(base, running)["state"] == "running", what="the held collection to run")
        listed = http.get("/ui/tasks")
        live = re.search(r'data-list-events="([^"]+)"', listed.text)
        assert live is not None and live.group(1) == f"/ui/task-events?id={running}"  # only what can change

        unknown = "0123456789abcdef0123456789abcdef"
        assert http.get("/ui/task-events", params={"id": unknown}).status_code == 404
        params = [("id", running), ("id", failed), ("id", unknown), ("id", running)]
        with http.stream("GET", "/ui/task-events", params=params) as response:
            assert response.status_code == 200
            events = StatusEvents(response.iter_lines())
            first, second = events.next_status(), events.next_status()
            assert first is not None and second is not None
            assert open_event_streams(base) == 1  # counted like the API's own streams
            assert (first["task_id"], first["state"]) == (running, "running")
            assert (second["task_id"], second["state"]) == (failed, "failure")
            held_top100.set()
            rest = events.rest()[2:]  # after the two read above
        wait_until(lambda: open_event_streams(base) == 0, what="the ended stream to be uncounted")
    assert events.ended  # closed once every task it follows is final
    assert {status["task_id"] for status in rest} == {running}
    assert_in_lifecycle_order([first, *rest])
    assert rest[-1]["state"] == "success"
