"""Scheduler checks that share one deployment (module-scoped `deployed`): validation, refusing bad settings,
no replay of a missed tick. Kept apart from tests/e2e/test_scheduler.py, whose per-test deployments use the same
test Redis database and must not overlap with this module's long-lived worker."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed
from tests.e2e.processes import start_scheduler
from tests.e2e.test_scheduler import _ticks_and_tasks

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"cron": "61 * * * *", "collect": {"genre": "tech-house"}}, "not a valid 5-field cron"),
        ({"cron": "0 6 * * *", "collect": {"genre": "no-such-genre"}}, "Unknown Beatport genre"),
        ({"cron": "0 6 * * *", "collect": {"url": "https://example.com/x"}}, "Supported Beatport targets"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus", "collect": {"genre": 11}}, "unknown time zone"),
        ({"cron": "0 6 * * *"}, "(as for POST /collect/beatport/collect)"),
        ({"cron": "0 6 * * *", "sync": {"source": {"watchlist_id": 0}}}, "greater than or equal to 1"),
        ({"cron": "0 6 * * *", "sync": {"source": {"chart_key": "chart-9", "tracks": {}}}}, "exactly one of"),
        ({"cron": "0 6 * * *", "collect": None, "sync": {"source": {"tracks": {}}}}, "must not be null"),
    ],
)
def test_schedule_validation(deployed: Deployed, body: dict[str, Any], needle: str) -> None:
    response = api.post(f"{deployed.base}/schedules", json=body)
    assert response.status_code == 422, response.text
    assert needle in response.text


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"SCHEDULE_BEATPORT_TOP100_GENRES": "tech-house", "SCHEDULE_BEATPORT_CRON": "0 25 * * *"},
            "SCHEDULE_BEATPORT_CRON",
        ),
        ({"SCHEDULE_BEATPORT_TOP100_GENRES": "tech-house,nope"}, "SCHEDULE_BEATPORT_TOP100_GENRES"),
    ],
)
def test_scheduler_refuses_to_start_on_invalid_settings(
    tmp_path: Path, deployed: Deployed, settings: dict[str, str], named: str
) -> None:
    scheduler = start_scheduler({**deployed.env, **settings}, tmp_path)
    try:
        assert scheduler.proc.wait(30) != 0
        assert f"Scheduler settings are invalid: {named}" in scheduler.log()
    finally:
        scheduler.stop()


def test_a_missed_tick_is_not_replayed(tmp_path: Path, deployed: Deployed) -> None:
    # Due one minute ago (the scheduler "was down" then): starting now must not enqueue it late.
    missed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    settings = {
        "SCHEDULE_BEATPORT_TOP100_GENRES": "tech-house",
        "SCHEDULE_BEATPORT_CRON": f"{missed.minute} * * * *",
    }
    before = _ticks_and_tasks(deployed.redis_url)
    scheduler = start_scheduler({**deployed.env, **settings}, tmp_path)
    try:
        time.sleep(4)
        assert scheduler.proc.poll() is None, scheduler.log()
        assert _ticks_and_tasks(deployed.redis_url) == before
    finally:
        scheduler.stop()
