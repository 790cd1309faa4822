"""Every bad request is a clear 4xx/503 with a message a person can act on, and nothing reaches the queue."""

from __future__ import annotations

import httpx
import pytest
import redis

from app.runtime.build import QUEUE_NAME
from app.runtime.redis_status_store import KEY_PREFIX
from tests.e2e import api
from tests.e2e.conftest import Deployed

pytestmark = pytest.mark.e2e


def _messages(response: httpx.Response) -> str:
    """The human-readable part of an error: our `detail` string, or each validation error's message."""
    detail = response.json()["detail"]
    if isinstance(detail, str):
        return detail
    return " | ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail)


def _queue_untouched(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(QUEUE_NAME) == 0
        assert list(client.scan_iter(f"{KEY_PREFIX}*")) == []
    finally:
        client.close()


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"url": "https://www.example.com/genre/tech-house/11/top-100"}, 422, "Supported Beatport targets"),
        ({"url": "/search/tracks?q=noisia"}, 422, "Supported Beatport targets"),
        ({"url": "/genre/tech-house/11/releases"}, 422, "Supported Beatport targets"),
        ({"url": "/label/some-label/abc/tracks"}, 422, "Supported Beatport targets"),
        ({"genre": "not-a-genre"}, 422, "tech-house"),
        ({}, 422, 'exactly one of "url"'),
        ({"url": "/top-100", "genre": "tech-house"}, 422, 'exactly one of "url"'),
        ({"url": 42}, 422, "string"),
        ({"url": "/top-100", "max_pages": 0}, 422, "greater than or equal to 1"),
        ({"url": "/top-100", "max_pages": "many"}, 422, "integer"),
        ({"url": "/top-100", "surprise": True}, 422, "Extra inputs are not permitted"),
    ],
)
def test_collect_rejects_bad_input(deployed: Deployed, body: object, status: int, needle: str) -> None:
    response = api.post(f"{deployed.base}/collect/beatport/collect", json=body)
    assert response.status_code == status, response.text
    assert needle in _messages(response)
    _queue_untouched(deployed.redis_url)


def test_collect_rejects_non_json_body(deployed: Deployed) -> None:
    response = api.post(
        f"{deployed.base}/collect/beatport/collect",
        content=b"genre=tech-house",
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    _queue_untouched(deployed.redis_url)


def test_enrich_without_spotify_credentials_is_503_naming_the_settings(deployed: Deployed) -> None:
    response = api.post(f"{deployed.base}/collect/spotify/enrich", json={"only_missing": True})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "SPOTIFY_CLIENT_ID" in detail and "SPOTIFY_CLIENT_SECRET" in detail
    _queue_untouched(deployed.redis_url)


@pytest.mark.parametrize(
    "body", [{"track_ids": []}, {"track_ids": ["x"]}, {"limit": 0}, {"track_ids": [-1]}, {"force": "maybe"}]
)
def test_enrich_validates_before_checking_configuration(deployed: Deployed, body: object) -> None:
    response = api.post(f"{deployed.base}/collect/spotify/enrich", json=body)
    assert response.status_code == 422, response.text
    _queue_untouched(deployed.redis_url)


@pytest.mark.parametrize("task_id", ["0" * 32, "deadbeef-0000-0000-0000-000000000000", "not a task"])
def test_unknown_task_id_is_404(deployed: Deployed, task_id: str) -> None:
    response = api.get(f"{deployed.base}/tasks/status/{task_id}")
    assert response.status_code == 404
    assert "No task with id" in response.json()["detail"]


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *"])
def test_a_cron_that_never_fires_is_refused_and_nothing_is_saved(deployed: Deployed, cron: str) -> None:
    before = api.get(f"{deployed.base}/schedules")
    assert before.status_code == 200, before.text
    response = api.post(f"{deployed.base}/schedules", json={"cron": cron, "collect": {"genre": "tech-house"}})
    assert response.status_code == 422, response.text
    assert "never fires" in _messages(response)
    after = api.get(f"{deployed.base}/schedules")
    assert after.status_code == 200 and after.json() == before.json()  # still listable: nothing was saved


def test_a_schedule_without_an_action_is_refused(deployed: Deployed) -> None:
    response = api.post(f"{deployed.base}/schedules", json={"cron": "0 * * * *"})
    assert response.status_code == 422, response.text
    assert 'give "collect"' in _messages(response)
