"""`GET /tasks/{id}/events` and `GET /tasks` as deployed: uvicorn, `taskiq worker`, Redis and PostgreSQL, a fake
Beatport whose pages the test holds back, so each step of a task is seen on the stream: queued (no worker
yet), running, progress per page, success, and the stream's end; a client that leaves ends the server's loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import wait_for_state, wait_until
from tests.fakes.beatport import FakeBeatport
from tests.fakes.server import FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_PATH, genre_top100_html
from tests.sse import StatusEvents, assert_in_lifecycle_order, open_event_streams

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[FakeBeatport]:
    with FakeBeatport() as fake:
        yield fake


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, site: FakeBeatport) -> Iterator[Deployed]:
    """No worker at first: a collection stays queued until a test starts one."""
    with deployment(tmp_path_factory.mktemp("events"), site, with_worker=False) as deployed:
        yield deployed


def worker_running(deployed: Deployed) -> None:
    if not deployed.workers:
        deployed.start_worker()


def collect(deployed: Deployed, body: dict[str, Any]) -> str:
    response = api.post(f"{deployed.base}/collect/beatport/collect", json=body)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def events_url(deployed: Deployed, task_id: str) -> str:
    return f"{deployed.base}/tasks/{task_id}/events"


def held_label_collection(
    deployed: Deployed, site: FakeBeatport, label_id: int, pages: int
) -> tuple[str, threading.Event]:
    """A collection of a label's `pages` track pages whose page 2 is answered only once the event is set."""
    worker_running(deployed)
    path = f"/label/_/{label_id}/tracks"
    site.serve_label_tracks(label_id, pages=pages)
    page_2_held = threading.Event()
    site.interrupt_page(path, 2, hold=page_2_held)
    return collect(deployed, {"url": path}), page_2_held


def test_a_collection_streams_from_queued_to_success_and_the_stream_ends(
    running: Deployed, site: FakeBeatport
) -> None:
    page_held = threading.Event()
    site.serve(GENRE_TOP100_PATH, FakeResponse.html(genre_top100_html(), hold=page_held))
    task_id = collect(running, {"url": f"https://www.beatport.com{GENRE_TOP100_PATH}"})
    try:
        with api.stream("GET", events_url(running, task_id), timeout=60) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = StatusEvents(response.iter_lines())
            first = events.next_status()
            assert first is not None and first["state"] == "queued", first  # no worker has taken it
            assert first == api.get(f"{running.base}/tasks/status/{task_id}").json()
            assert open_event_streams(running.base) == 1
            worker_running(running)
            assert events.until("running")["state"] == "running"
            wait_until(
                lambda: bool(site.requests_to(GENRE_TOP100_PATH)), what="the worker to ask for the page"
            )
            page_held.set()
            statuses = events.rest()
    except AssertionError as error:
        raise AssertionError(f"{error}\n{running.logs()}") from None
    finally:
        page_held.set()
    assert events.ended  # closed by the server after the final state
    assert_in_lifecycle_order(statuses)
    assert [s["state"] for s in statuses][:2] == ["queued", "running"]
    final = statuses[-1]
    assert final["state"] == "success" and final["result"]["tracks_created"] == 100, final
    assert final == api.get(f"{running.base}/tasks/status/{task_id}").json()

    listed = api.get(f"{running.base}/tasks", params={"task_name": "collect_bp_tracks", "limit": 1}).json()
    assert [item["task_id"] for item in listed["items"]] == [task_id] and listed["items"][0] == final


def test_progress_arrives_page_by_page(running: Deployed, site: FakeBeatport) -> None:
    task_id, page_2_held = held_label_collection(running, site, 5151, pages=3)
    try:
        with api.stream("GET", events_url(running, task_id), timeout=60) as response:
            events = StatusEvents(response.iter_lines())
            while (status := events.next_status()) is not None and not status["progress"]:
                assert status["state"] in {"queued", "running"}, status
            assert status is not None, events.statuses
            # Page 1 is stored and page 2 is held: the status rests on the first page's progress.
            assert status["state"] == "running" and status["progress"]["done"] == 1, status
            assert status["progress"]["total"] == 3 and "page 1/3" in status["progress"]["message"]
            page_2_held.set()
            statuses = events.rest()
    finally:
        page_2_held.set()
    assert_in_lifecycle_order(statuses)
    final = statuses[-1]
    assert final["state"] == "success" and final["result"]["pages_fetched"] == 3, final
    assert final["progress"]["done"] == 3


def test_a_client_that_leaves_ends_its_stream_and_a_finished_task_streams_once(
    running: Deployed, site: FakeBeatport
) -> None:
    task_id, page_2_held = held_label_collection(running, site, 6161, pages=2)
    try:
        with api.stream("GET", events_url(running, task_id), timeout=60) as response:
            events = StatusEvents(response.iter_lines())
            assert events.next_status() is not None
            assert open_event_streams(running.base) == 1
        wait_until(
            lambda: open_event_streams(running.base) == 0,
            what="the API to stop following a task nobody listens to",
        )
        assert api.get(f"{running.base}/tasks/status/{task_id}").json()["state"] in {"queued", "running"}
    finally:
        page_2_held.set()
    assert wait_for_state(running.base, task_id, {"success", "failure"})["state"] == "success"

    started = time.monotonic()
    finished = api.get(events_url(running, task_id), timeout=10)
    assert time.monotonic() - started < 2  # nothing left to follow: one event and the end
    (only,) = StatusEvents(finished.text.splitlines()).rest()
    assert only["state"] == "success" and only["task_id"] == task_id

    unknown = api.get(events_url(running, "0123456789abcdef0123456789abcdef"))
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
    assert "No task with id" in unknown.json()["detail"]
