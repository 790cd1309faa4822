"""A multi-page collection resumes at the first page it did not store: when its worker is SIGKILLed after page 3
and the task is delivered again, and when it failed into a dead letter at page 4 and the dead letter is
retried (a new task that continues the failed run). Real `taskiq worker` processes, real Redis and
PostgreSQL, a fake Beatport on loopback.

Only the HTTP API, the e2e helpers and the fakes are used, so the test does not depend on where the task
runtime lives."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import wait_for_state
from tests.fakes.beatport import FakeBeatport

pytestmark = pytest.mark.e2e

LABEL = "/label/_/4242/tracks"


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as server:
        yield server


def _status(d: Deployed, task_id: str) -> dict[str, Any]:
    response = api.get(f"{d.base}/tasks/status/{task_id}", timeout=10)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


def _wait(d: Deployed, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{d.logs()}")


def test_a_collection_killed_after_page_3_resumes_at_page_4(tmp_path: Path, fake: FakeBeatport) -> None:
    ids = fake.serve_label_tracks(4242, pages=4)  # 150 + 150 + 150 + 50 tracks
    page_4_held = threading.Event()
    fake.interrupt_page(LABEL, 4, hold=page_4_held)  # the first request for page 4 hangs
    try:
        with deployment(
            tmp_path,
            fake,
            TASK_VISIBILITY_TIMEOUT_SECONDS="3",  # a dead worker's task is delivered again within seconds
            TASK_RECLAIM_INTERVAL_SECONDS="1",
        ) as d:
            response = api.post(f"{d.base}/collect/beatport/collect", json={"url": LABEL}, timeout=10)
            assert response.status_code == 202, f"{response.text}\n{d.logs()}"
            task_id = response.json()["task_id"]

            # Page 3 is stored (its progress is reported after its commit) and page 4 is in flight.
            _wait(
                d,
                lambda: (_status(d, task_id).get("progress") or {}).get("done") == 3,
                "page 3 to be stored",
            )
            _wait(d, lambda: fake.pages_requested(LABEL) == [1, 2, 3, 4], "the request for page 4")
            d.worker.signal(signal.SIGKILL)
            d.worker.proc.wait(10)

            d.start_worker()  # the reclaim delivers the same task (same id) to the new worker
            try:
                done = wait_for_state(d.base, task_id, {"success", "failure", "cancelled"}, timeout=60)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{d.logs()}") from None
            stored = api.get(f"{d.base}/tracks", params={"page_size": 1}, timeout=10).json()
    finally:
        page_4_held.set()

    assert done["state"] == "success", done
    assert done["attempt"] == 2
    requested = fake.pages_requested(LABEL)
    assert [requested.count(page) for page in (1, 2, 3)] == [1, 1, 1], requested
    assert 1 <= requested.count(4) <= 2, requested
    result = done["result"]
    assert (result["pages_fetched"], result["pages_resumed"]) == (4, 3), result
    assert (result["tracks_seen"], result["tracks_created"]) == (500, 500), result
    assert (result["tracks_updated"], result["tracks_unchanged"]) == (0, 0), result
    assert result["sources"] == [f"page {n}: pages" for n in (1, 2, 3, 4)]
    assert stored["paging"]["total"] == len(ids) == 500


def test_a_dead_lettered_collection_resumes_where_it_failed_when_retried(
    tmp_path: Path, fake: FakeBeatport
) -> None:
    fake.serve_label_tracks(4242, pages=4)
    fake.interrupt_page(LABEL, 4, status=404)  # permanent: the first request for page 4 ends the task
    with deployment(tmp_path, fake) as d:
        response = api.post(f"{d.base}/collect/beatport/collect", json={"url": LABEL}, timeout=10)
        assert response.status_code == 202, f"{response.text}\n{d.logs()}"
        task_id = response.json()["task_id"]
        failed = wait_for_state(d.base, task_id, {"success", "failure", "cancelled"}, timeout=60)
        assert failed["state"] == "failure", f"{failed}\n{d.logs()}"
        [letter] = api.get(f"{d.base}/tasks/dead-letters", timeout=10).json()["items"]
        assert letter["task_id"] == task_id

        retried = api.post(f"{d.base}/tasks/dead-letters/{letter['id']}/retry", timeout=10)
        assert retried.status_code == 202, retried.text
        done = wait_for_state(
            d.base, retried.json()["task_id"], {"success", "failure", "cancelled"}, timeout=60
        )

    assert done["state"] == "success", done
    requested = fake.pages_requested(LABEL)
    assert requested == [1, 2, 3, 4, 4], requested  # the retry asked for page 4 only
    result = done["result"]
    assert (result["pages_fetched"], result["pages_resumed"]) == (4, 3), result
    assert (result["tracks_seen"], result["tracks_created"]) == (500, 500), result
