"""Scheduled collection through real processes: `taskiq scheduler` enqueues, `taskiq worker` runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app.runtime.build import QUEUE_NAME
from app.runtime.cron_schedules import TICK_PREFIX
from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import ServiceProcess, start_scheduler, wait_for_state
from tests.fakes.beatport import FakeBeatport
from tests.fakes.server import FakeResponse
from tests.fixtures.beatport import genre_top100_html

pytestmark = pytest.mark.e2e

TOP100 = "/genre/tech-house/11/top-100"
EVERY_MINUTE = "* * * * *"  # due at once when a scheduler starts, then once a minute


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as server:
        yield server


def _schedules(d: Deployed) -> list[dict[str, Any]]:
    response = api.get(f"{d.base}/schedules", timeout=10)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def _wait_last_run_state(d: Deployed, schedule_id: str, state: str, timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = next(s for s in _schedules(d) if s["id"] == schedule_id)
        if found["last_run"] and found["last_run"]["state"] == state:
            return found
        time.sleep(0.2)
    raise AssertionError(f"schedule never reached {state}: {found}\n{d.logs()}")


def _ticks_and_tasks(redis_url: str) -> tuple[int, list[dict[str, Any]]]:
    """Minutes ticked, and each distinct task sent to the stream (a retry re-sends the same task id)."""
    client = redis.Redis.from_url(redis_url)
    try:
        ticks = len(list(client.scan_iter(f"{TICK_PREFIX}*")))
        entries: list[Any] = list(client.xrange(QUEUE_NAME) or [])
        messages = [json.loads(fields[b"data"]) for _, fields in entries]
    finally:
        client.close()
    return ticks, list({m["task_id"]: m for m in messages}.values())


def _logs(processes: list[ServiceProcess]) -> str:
    return "\n".join(p.log() for p in processes)


def _not_near_a_minute_boundary() -> None:
    """Schedulers started now run their first tick in the same minute (start-up takes a few seconds)."""
    second = time.time() % 60
    if second > 45:
        time.sleep(61 - second)


def test_settings_schedule_runs_once_per_tick_with_two_schedulers(tmp_path: Path, fake: FakeBeatport) -> None:
    settings = {"SCHEDULE_BEATPORT_TOP100_GENRES": "tech-house", "SCHEDULE_BEATPORT_CRON": EVERY_MINUTE}
    with deployment(tmp_path, fake, settings=settings) as d:
        schedulers: list[ServiceProcess] = []
        try:
            _not_near_a_minute_boundary()
            schedulers = [start_scheduler(d.env, tmp_path, name=f"scheduler{i}") for i in (1, 2)]
            (schedule,) = _schedules(d)
            assert schedule["source"] == "settings" and schedule["arguments"]["target"] == TOP100
            done = _wait_last_run_state(d, schedule["id"], "success")
            # Each scheduler runs the schedule at start-up, then no sooner than 60 s later (taskiq's rule). Both
            # started in one minute on a normal day; if a slow start straddled a minute, they meet in the next.
            deadline = time.monotonic() + 90
            while "already enqueued by another scheduler" not in _logs(schedulers):
                assert time.monotonic() < deadline, _logs(schedulers)
                time.sleep(0.5)
            for process in schedulers:
                process.stop()  # no tick after this point, so the counts below are final
            logs = _logs(schedulers)
            ticks, tasks = _ticks_and_tasks(d.redis_url)
            for task in tasks:
                assert wait_for_state(d.base, task["task_id"], {"success", "failure"})["state"] == "success"
        finally:
            for process in schedulers:
                process.stop()
    assert ticks >= 1
    # One enqueued task and one page fetch per minute ticked, although two schedulers ran.
    assert len(tasks) == ticks, f"{tasks}\n{logs}"
    assert all(t["task_name"] == "collect_bp_tracks" for t in tasks)
    assert len(fake.requests_to(TOP100)) == ticks
    assert "already enqueued by another scheduler" in logs
    assert done["next_run_at"] > done["last_run"]["enqueued_at"]


def test_schedules_through_the_api(tmp_path: Path, fake: FakeBeatport) -> None:
    # Every minute, so the test need not wait 15: the deployment allows it.
    with deployment(tmp_path, fake, SCHEDULE_MIN_INTERVAL_MINUTES="1") as d:
        created = api.post(
            f"{d.base}/schedules",
            json={"cron": EVERY_MINUTE, "collect": {"url": f"https://www.beatport.com{TOP100}"}},
        )
        assert created.status_code == 201, created.text
        schedule = created.json()
        assert schedule["source"] == "api" and schedule["last_run"] is None and schedule["next_run_at"]

        scheduler = start_scheduler(d.env, tmp_path)  # reads the Redis-kept schedule at start
        try:
            ran = _wait_last_run_state(d, schedule["id"], "success")
        finally:
            scheduler.stop()
        assert ran["last_run"]["task_id"]

        assert api.delete(f"{d.base}/schedules/{schedule['id']}").status_code == 204
        assert all(s["id"] != schedule["id"] for s in _schedules(d))
        assert api.delete(f"{d.base}/schedules/{schedule['id']}").status_code == 404


def test_a_run_still_going_at_the_next_tick_is_not_started_twice(tmp_path: Path, fake: FakeBeatport) -> None:
    hold = threading.Event()
    fake.serve(
        TOP100, FakeResponse.html(genre_top100_html(), hold=hold), FakeResponse.html(genre_top100_html())
    )
    settings = {
        "SCHEDULE_BEATPORT_TOP100_GENRES": "tech-house",
        "SCHEDULE_BEATPORT_CRON": EVERY_MINUTE,
        "BEATPORT_READ_TIMEOUT_SECONDS": "150",  # the held page must outlast the next tick
    }
    with deployment(tmp_path, fake, settings=settings) as d:
        scheduler = start_scheduler(d.env, tmp_path)
        try:
            (schedule,) = _schedules(d)
            first = _wait_last_run_state(d, schedule["id"], "running")["last_run"]
            # Wait for the next minute's tick while the first run is still held at the site.
            deadline = time.monotonic() + 75
            while time.monotonic() < deadline and _ticks_and_tasks(d.redis_url)[0] < 2:
                time.sleep(0.5)
            time.sleep(1)
            ticks, tasks = _ticks_and_tasks(d.redis_url)
            second = next(s for s in _schedules(d) if s["id"] == schedule["id"])["last_run"]
            logs = f"{scheduler.log()}\n{d.logs()}"
            hold.set()
            done = _wait_last_run_state(d, schedule["id"], "success")
        finally:
            scheduler.stop()
    assert ticks == 2
    assert [t["task_id"] for t in tasks] == [first["task_id"]], logs  # one task for two ticks
    assert second["task_id"] == first["task_id"] and second["duplicate_of_active"] is True
    assert done["last_run"]["task_id"] == first["task_id"]
