"""The walking skeleton as deployed: migrate, api under uvicorn, worker under `taskiq worker`, real Redis and
PostgreSQL, and a fake Beatport on loopback serving the recorded Top 100 page."""

from __future__ import annotations

import time

import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed
from tests.e2e.processes import row_counts, wait_for_state, wait_until
from tests.promtool import check_metrics

pytestmark = pytest.mark.e2e

TOP100_PATH = "/genre/tech-house/11/top-100"


def test_collect_top100_through_real_api_and_worker(deployed: Deployed) -> None:
    base, api_process, worker, database_url = (
        deployed.base,
        deployed.api,
        deployed.worker,
        deployed.database_url,
    )
    response = api.post(
        f"{base}/collect/beatport/collect", json={"url": f"https://www.beatport.com{TOP100_PATH}"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    task_id = body["task_id"]
    assert response.headers["Location"] == body["status_url"] == f"/tasks/status/{task_id}"

    queued_or_later = api.get(f"{base}{body['status_url']}").json()
    assert queued_or_later["state"] in {"queued", "running", "success"}
    assert queued_or_later["task_name"] == "collect_bp_tracks"
    assert queued_or_later["enqueued_at"] is not None

    try:
        done = wait_for_state(base, task_id, {"success", "failure"}, timeout=60)
    except AssertionError:
        raise AssertionError(f"worker log:\n{worker.log()}\napi log:\n{api_process.log()}") from None
    assert done["state"] == "success", done
    assert done["attempt"] == 1
    assert done["started_at"] and done["finished_at"]
    assert done["result"]["pages_fetched"] == 1
    assert done["result"]["tracks_seen"] == 100
    assert done["result"]["tracks_created"] == 100
    assert done["progress"]["done"] == 1

    first = row_counts(database_url)
    assert first["tracks"] == 100
    assert first["chart_entries"] == 100
    assert first["chart_snapshots"] == 1
    assert first["genres"] >= 1 and first["labels"] >= 1 and first["releases"] >= 1
    assert first["track_artists"] >= 100

    # The same collection again: no duplicate rows, one more chart snapshot.
    again = api.post(f"{base}/collect/beatport/collect", json={"genre": "tech-house"}).json()
    second_run = wait_for_state(base, again["task_id"], {"success", "failure"}, timeout=60)
    assert second_run["state"] == "success", second_run
    assert second_run["result"]["tracks_created"] == 0
    assert second_run["result"]["tracks_unchanged"] == 100
    second = row_counts(database_url)
    assert {k: v for k, v in second.items() if not k.startswith("chart")} == {
        k: v for k, v in first.items() if not k.startswith("chart")
    }
    assert second["chart_snapshots"] == 2
    assert second["chart_entries"] == 200

    # The catalogue gauges are recounted at most every METRICS_CATALOGUE_REFRESH_SECONDS (1 s here).
    wait_until(lambda: "cratedigger_tracks 100.0\n" in api.get(f"{base}/metrics").text, what="tracks gauge")
    metrics = api.get(f"{base}/metrics").text
    assert "cratedigger_tasks_waiting 0.0\n" in metrics and "cratedigger_dead_letters 0.0\n" in metrics
    # The worker processes' own metrics reach the API's /metrics (PROMETHEUS_MULTIPROC_DIR).
    assert 'cratedigger_task_duration_seconds_count{state="success",task="collect_bp_tracks"} 2.0' in metrics
    assert 'cratedigger_outbound_requests_total{site="beatport",status_class="2xx"} 2.0' in metrics
    check_metrics(metrics)  # promtool accepts the summed text of every process


def test_health_reports_database_redis_and_workers(deployed: Deployed) -> None:
    # `taskiq worker` runs two worker processes by default; each reports its heartbeat once it has started.
    # The second process may still be importing the app on a loaded machine, so wait for it (bounded).
    deadline = time.monotonic() + 30
    while True:
        response = api.get(f"{deployed.base}/health")
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
        if checks["workers"]["seen"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is True
    assert checks["workers"]["seen"] == 2, deployed.worker.log()
    assert "cratedigger_workers_alive 2.0\n" in api.get(f"{deployed.base}/metrics").text
