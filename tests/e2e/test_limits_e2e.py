"""The deployment's limits and the duplicate rule by target, through the real api (no worker: tasks stay
queued, so a second request finds the first still active)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.fakes.server import FakeHTTPServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def queued_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with (
        FakeHTTPServer() as site,
        deployment(tmp_path_factory.mktemp("limits"), site, with_worker=False, SCHEDULES_MAX="2") as running,
    ):
        yield running


def _collect(d: Deployed, body: dict[str, object]) -> httpx.Response:
    return api.post(f"{d.base}/collect/beatport/collect", json=body, timeout=10)


def test_two_spellings_of_one_target_are_one_task(queued_only: Deployed) -> None:
    first = _collect(queued_only, {"url": "/chart/first-spelling/901"})
    second = _collect(queued_only, {"url": "https://www.beatport.com/de/chart/another-spelling/901"})
    assert first.status_code == 202 and second.status_code == 200, second.text
    assert second.json()["task_id"] == first.json()["task_id"] and second.json()["duplicate_of_active"]
    other = _collect(queued_only, {"url": "/chart/first-spelling/902"})
    assert other.status_code == 202


def test_max_pages_over_the_deployment_limit_is_refused(queued_only: Deployed) -> None:
    response = _collect(queued_only, {"url": "/label/x/77/tracks", "max_pages": 51})
    assert response.status_code == 422 and "COLLECT_MAX_PAGES" in response.json()["detail"]
    assert _collect(queued_only, {"url": "/label/x/77/tracks", "max_pages": 50}).status_code == 202


def test_schedule_limits(queued_only: Deployed) -> None:
    base = queued_only.base
    often = api.post(f"{base}/schedules", json={"cron": "*/5 * * * *", "collect": {"genre": "tech-house"}})
    assert often.status_code == 422 and "SCHEDULE_MIN_INTERVAL_MINUTES" in often.json()["detail"]
    for hour in (6, 7):
        made = api.post(
            f"{base}/schedules", json={"cron": f"0 {hour} * * *", "collect": {"genre": "tech-house"}}
        )
        assert made.status_code == 201, made.text
    third = api.post(f"{base}/schedules", json={"cron": "0 8 * * *", "collect": {"genre": "tech-house"}})
    assert third.status_code == 422 and "SCHEDULES_MAX=2" in third.json()["detail"]
    assert len(api.get(f"{base}/schedules").json()) == 2  # nothing stored for the refused ones
