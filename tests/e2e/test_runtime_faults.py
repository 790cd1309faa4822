"""Faults of a real deployment, through the real processes: Redis restarted without its data, and the
database refusing connections mid-collection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import api
from tests.e2e.conftest import deployment
from tests.e2e.processes import PrivateRedis, wait_for_state, wait_until
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_PATH
from tests.pg import admin

pytestmark = pytest.mark.e2e

FAST = {
    "TASK_RETRY_BASE_SECONDS": "0.5",
    "TASK_RETRY_MAX_SECONDS": "2",
    "TASK_MAX_ATTEMPTS": "20",
    "TASK_RECLAIM_INTERVAL_SECONDS": "1",
}


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path, persistent=False)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def site() -> Iterator[FakeHTTPServer]:
    from tests.fixtures.beatport import GENRE_TOP100_HTML, load_text

    with FakeHTTPServer() as server:
        server.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML)))
        yield server


def _collect(base: str, body: dict[str, Any]) -> str:
    response = api.post(f"{base}/collect/beatport/collect", json=body, timeout=10)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def test_redis_restarted_empty_is_survived_without_a_worker_restart(
    tmp_path: Path, site: FakeHTTPServer, private_redis: PrivateRedis
) -> None:
    with deployment(tmp_path, site, redis_url=private_redis.url, settings=FAST) as d:
        first = _collect(d.base, {"genre": "tech-house"})
        assert wait_for_state(d.base, first, {"success", "failure"})["state"] == "success"

        private_redis.kill()
        private_redis.start()  # same port, no data: no stream, no consumer group, no statuses
        again = _collect(d.base, {"genre": "tech-house"})  # the claim of the first run is gone with Redis
        done = wait_for_state(d.base, again, {"success", "failure"}, timeout=60)
        assert done["state"] == "success", f"{done}\n{d.logs()}"
        assert len(d.workers) == 1 and d.worker.proc.poll() is None  # the same worker process did it

        health = api.get(f"{d.base}/health", timeout=10).json()
        redis_check = health["checks"]["redis"]
        assert redis_check["ok"] is True
        assert redis_check["data_lost_at"]
        assert "lost its data" in redis_check["note"]
        assert "Redis lost its data" in d.worker.log()


def _refuse_connections(database_url: str, *, refuse: bool) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
    if refuse:  # and drop the connections the api and worker already hold
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def test_database_refusing_connections_is_retried_and_dead_letters_are_kept(
    tmp_path: Path, site: FakeHTTPServer
) -> None:
    # Three attempts, the first retry 1–2 s after a failure: one task runs out of attempts during the refusal,
    # the next is still retrying when the database is back.
    settings = {
        **FAST,
        "TASK_MAX_ATTEMPTS": "3",
        "TASK_RETRY_BASE_SECONDS": "2",
        "TASK_RETRY_MAX_SECONDS": "4",
    }
    with deployment(tmp_path, site, settings=settings) as d:
        warm = _collect(d.base, {"url": "/track/warm-up/1"})  # the pools hold connections now
        wait_for_state(d.base, warm, {"success", "failure"})
        _refuse_connections(d.database_url, refuse=True)
        try:
            doomed = _collect(d.base, {"url": "/release/doomed/404"})
            failed = wait_for_state(d.base, doomed, {"failure", "success"})
            assert failed["state"] == "failure" and failed["attempt"] == 3, failed
            assert "not currently accepting connections" in failed["error"]["message"]
            collected = _collect(d.base, {"genre": "tech-house"})
            wait_until(
                lambda: (
                    api.get(f"{d.base}/tasks/status/{collected}", timeout=5).json()["state"] == "retrying"
                ),
                what="the collection to meet the refusing database and retry",
            )
        finally:
            _refuse_connections(d.database_url, refuse=False)
        done = wait_for_state(d.base, collected, {"success", "failure"}, timeout=60)
        assert done["state"] == "success", f"{done}\n{d.logs()}"
        assert done["result"]["tracks_created"] == 100
        assert done["attempt"] >= 2

        # The dead letter could not be written while the database refused; it was kept and written since.
        letters = api.get(f"{d.base}/tasks/dead-letters", timeout=10).json()["items"]
        mine = [letter for letter in letters if letter["task_id"] == doomed]
        assert len(mine) == 1, letters
        assert mine[0]["attempts"] == 3
        assert "not currently accepting connections" in mine[0]["error_message"]


def test_reads_answer_503_with_retry_after_while_the_database_refuses(
    tmp_path: Path, site: FakeHTTPServer
) -> None:
    with deployment(tmp_path, site, with_worker=False, settings=FAST) as d:
        assert api.get(f"{d.base}/tracks", timeout=10).status_code == 200  # the pool holds a connection
        _refuse_connections(d.database_url, refuse=True)
        try:
            for path in ("/tracks", "/tracks?format=csv", "/tracks/1", "/tasks/dead-letters"):
                response = api.get(f"{d.base}{path}", timeout=10)
                assert response.status_code == 503, f"{path}: {response.status_code} {response.text[:300]}"
                assert response.headers["retry-after"].isdigit()
                assert response.headers["content-type"].startswith("application/json")  # not a CSV cut short
                assert "database is unavailable" in response.json()["detail"]
        finally:
            _refuse_connections(d.database_url, refuse=False)
        # The same processes answer again once connections are allowed: no restart.
        assert api.get(f"{d.base}/tracks", timeout=10).status_code == 200
        csv_export = api.get(f"{d.base}/tracks?format=csv", timeout=10)
        assert csv_export.status_code == 200 and csv_export.text.startswith("id,")
