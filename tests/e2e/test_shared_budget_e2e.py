"""One politeness budget per deployment: two `taskiq worker` commands (two processes each) together send at
most BEATPORT_REQUESTS_PER_SECOND requests a second to the site."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e import api
from tests.e2e.conftest import deployment
from tests.e2e.processes import wait_for_state
from tests.fakes.beatport import FakeBeatport

pytestmark = pytest.mark.e2e

RATE = 2  # requests per second, for the whole deployment


def test_two_workers_share_one_beatport_budget(tmp_path: Path) -> None:
    labels = [(7001, 4), (7002, 4), (7003, 4)]  # three 4-page label collections at once: 12 pages
    with FakeBeatport() as fake:
        paths = [f"/label/_/{label_id}/tracks" for label_id, _ in labels]
        for (label_id, pages), _path in zip(labels, paths, strict=True):
            fake.serve_label_tracks(label_id, pages=pages)
        with deployment(
            tmp_path, fake, with_worker=False, settings={"BEATPORT_REQUESTS_PER_SECOND": str(RATE)}
        ) as d:
            d.start_worker()
            d.start_worker()  # 4 worker processes in all, each with slots free
            started = time.monotonic()
            task_ids = []
            for path in paths:
                response = api.post(f"{d.base}/collect/beatport/collect", json={"url": path}, timeout=10)
                assert response.status_code == 202, response.text
                task_ids.append(response.json()["task_id"])
            for task_id in task_ids:
                assert (
                    wait_for_state(d.base, task_id, {"success", "failure"}, timeout=60)["state"] == "success"
                )
            elapsed = time.monotonic() - started
        times = sorted(r.received_at for path in paths for r in fake.requests_to(path))
    assert len(times) == 12
    # In any one-second window at most RATE requests, allowing one burst slot.
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= RATE + 1, times
    # And the run takes about pages / rate: 12 requests at 2 a second is 5.5 s from the first to the last.
    assert times[-1] - times[0] >= (len(times) - 1) / RATE - 0.5
    assert elapsed < 30
