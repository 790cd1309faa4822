"""Each guarantee of docs/reliability.md, provoked for real: real `taskiq worker` processes, real Redis and
PostgreSQL, a fake Beatport on loopback. Timeouts are shortened through settings so the suite stays quick."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app.runtime.build import QUEUE_NAME
from app.runtime.duplicate_claims import CLAIM_SECONDS, KEY_PREFIX, fingerprint
from app.tasks.collection_tasks import collection_identity
from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import PrivateRedis, row_counts, wait_for_state, wait_until
from tests.fakes.beatport import FakeBeatport
from tests.fakes.server import FakeResponse
from tests.fixtures.beatport import genre_top100_html

pytestmark = pytest.mark.e2e

TOP100 = "/genre/tech-house/11/top-100"
FAST = {
    "TASK_VISIBILITY_TIMEOUT_SECONDS": "3",
    "TASK_RECLAIM_INTERVAL_SECONDS": "1",
    "TASK_RETRY_BASE_SECONDS": "0.5",
    "BEATPORT_FETCH_ATTEMPTS": "1",  # no retries inside a fetch: the task's retry policy is under test
}


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as server:
        yield server


def _collect(d: Deployed, body: dict[str, Any] | None = None) -> str:
    response = api.post(f"{d.base}/collect/beatport/collect", json=body or {"url": TOP100}, timeout=10)
    assert response.status_code == 202, f"{response.text}\n{d.logs()}"
    return str(response.json()["task_id"])


def _status(d: Deployed, task_id: str) -> dict[str, Any]:
    response = api.get(f"{d.base}/tasks/status/{task_id}", timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _finished(d: Deployed, task_id: str, timeout: float = 40) -> dict[str, Any]:
    try:
        return wait_for_state(d.base, task_id, {"success", "failure", "cancelled"}, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{d.logs()}") from None


def _queue_settled(redis_url: str) -> bool:
    """Nothing pending, and the group has read past the stream's last entry (the group's `lag` still counts
    an entry deleted by a cancel, so it is not used)."""
    client = redis.Redis.from_url(redis_url)
    try:
        groups = client.xinfo_groups(QUEUE_NAME)
        last = client.xinfo_stream(QUEUE_NAME)["last-entry"]
    finally:
        client.close()
    last_id = _stream_id(last[0]) if last else (0, 0)
    return all(int(g["pending"]) == 0 and _stream_id(g["last-delivered-id"]) >= last_id for g in groups)


def _stream_id(value: bytes | str) -> tuple[int, int]:
    millis, sequence = (value.decode() if isinstance(value, bytes) else value).split("-")
    return int(millis), int(sequence)


def _held_then_normal(fake: FakeBeatport, path: str = TOP100) -> threading.Event:
    """First request to `path` hangs until the event is set; later ones get the page at once."""
    hold = threading.Event()
    page = genre_top100_html()
    fake.serve(path, FakeResponse.html(page, hold=hold), FakeResponse.html(page))
    return hold


def test_worker_killed_mid_task_is_delivered_again_without_new_tasks(
    tmp_path: Path, fake: FakeBeatport
) -> None:
    hold = _held_then_normal(fake)
    with deployment(tmp_path, fake, settings=FAST) as d:
        task_id = _collect(d)
        wait_until(lambda: len(fake.requests_to(TOP100)) == 1, what="the worker to request the page")
        assert _status(d, task_id)["state"] == "running"
        d.worker.signal(signal.SIGKILL)
        d.worker.proc.wait(10)
        hold.set()

        d.start_worker()  # nothing new is enqueued: only the periodic reclaim can bring the task back
        started = time.monotonic()
        done = _finished(d, task_id)
        assert done["state"] == "success", done
        assert done["attempt"] == 2
        # visibility timeout (3 s) + reclaim interval (1 s) + worker start-up, with room for a slow machine
        assert time.monotonic() - started < 15
        counts = row_counts(d.database_url)
    assert counts["tracks"] == 100
    assert counts["chart_snapshots"] == 1 and counts["chart_entries"] == 100


def test_a_task_whose_worker_keeps_dying_ends_in_a_dead_letter(tmp_path: Path, fake: FakeBeatport) -> None:
    hold = threading.Event()
    fake.serve(TOP100, FakeResponse.html(genre_top100_html(), hold=hold))  # every attempt hangs at the site
    try:
        with deployment(tmp_path, fake, settings={**FAST, "TASK_MAX_ATTEMPTS": "2"}) as d:
            task_id = _collect(d)
            for attempt in (1, 2):

                def requested(n: int = attempt) -> bool:
                    return len(fake.requests_to(TOP100)) == n

                wait_until(requested, timeout=30, what=f"attempt {attempt}")
                d.worker.signal(signal.SIGKILL)  # e.g. the OOM killer, every time
                d.worker.proc.wait(10)
                d.start_worker()
            done = _finished(d, task_id)
            letters = api.get(f"{d.base}/tasks/dead-letters").json()["items"]
    finally:
        hold.set()
    assert done["state"] == "failure", done
    assert done["error"]["type"] == "WorkerLostError"
    assert "2 times" in done["error"]["message"] and done["attempt"] == 2
    assert len(fake.requests_to(TOP100)) == 2  # not started a third time
    assert letters[0]["task_id"] == task_id and letters[0]["error_type"] == "WorkerLostError"


def test_long_healthy_task_keeps_its_lease_and_runs_once(tmp_path: Path, fake: FakeBeatport) -> None:
    fake.slow(TOP100, delay=7)  # more than twice the 3 s visibility timeout
    with deployment(tmp_path, fake, settings=FAST) as d:
        d.start_worker()  # a second worker (4 consumers in all) ready to steal an unrenewed message
        task_id = _collect(d)
        done = _finished(d, task_id)
    assert done["state"] == "success", done
    assert done["attempt"] == 1
    assert len(fake.requests_to(TOP100)) == 1


def test_transient_failures_are_retried_with_real_backoff(tmp_path: Path, fake: FakeBeatport) -> None:
    page = genre_top100_html()
    fake.serve(TOP100, FakeResponse(status=500), FakeResponse(status=502), FakeResponse.html(page))
    with deployment(tmp_path, fake, settings=FAST) as d:
        task_id = _collect(d)
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = _status(d, task_id)
            seen.append(current)
            if current["state"] == "success":
                break
            time.sleep(0.02)
    retrying = [s for s in seen if s["state"] == "retrying"]
    assert retrying, "status never showed retrying"
    assert retrying[0]["next_attempt_at"] is not None
    assert "HTTP 500" in retrying[0]["error"]["message"]
    assert seen[-1]["state"] == "success" and seen[-1]["attempt"] == 3
    times = [r.received_at for r in fake.requests_to(TOP100)]
    assert len(times) == 3
    # backoff base 0.5 s: attempt 1 waits 0.25-0.5 s, attempt 2 waits 0.5-1 s (half fixed, half jitter)
    assert times[1] - times[0] >= 0.25
    assert times[2] - times[1] >= 0.5


def test_retry_after_is_honoured(tmp_path: Path, fake: FakeBeatport) -> None:
    fake.serve_genre_top100()
    fake.rate_limited(TOP100, retry_after=2)
    with deployment(tmp_path, fake, settings=FAST) as d:
        done = _finished(d, _collect(d))
    assert done["state"] == "success" and done["attempt"] == 2, done
    first, second = (r.received_at for r in fake.requests_to(TOP100))
    assert second - first >= 2.0


def test_broken_page_fails_at_once_into_a_dead_letter_that_can_be_retried(
    tmp_path: Path, fake: FakeBeatport
) -> None:
    fake.serve_broken_json(TOP100)
    with deployment(tmp_path, fake, settings=FAST) as d:
        task_id = _collect(d)
        done = _finished(d, task_id)
        assert done["state"] == "failure"
        assert done["attempt"] == 1  # permanent: no retries
        assert done["error"]["type"] == "PermanentSourceError"
        assert f"{fake.url}{TOP100}" in done["error"]["message"]
        assert "__NEXT_DATA__" in done["error"]["message"]
        assert len(fake.requests_to(TOP100)) == 1

        letters = api.get(f"{d.base}/tasks/dead-letters").json()["items"]
        assert len(letters) == 1
        letter = letters[0]
        assert letter["task_id"] == task_id and letter["task_name"] == "collect_bp_tracks"
        assert letter["arguments"] == {"target": TOP100, "max_pages": None}
        assert letter["attempts"] == 1 and "PermanentSourceError" in letter["traceback"]

        fake.serve_genre_top100()  # the site is fixed; the dead letter can be run again
        retried = api.post(f"{d.base}/tasks/dead-letters/{letter['id']}/retry")
        assert retried.status_code == 202, retried.text
        again = _finished(d, retried.json()["task_id"])
        assert again["state"] == "success", again
        letters = api.get(f"{d.base}/tasks/dead-letters").json()["items"]
        assert letters[0]["retried_task_id"] == retried.json()["task_id"]
        assert api.post(f"{d.base}/tasks/dead-letters/999999/retry").status_code == 404


def test_task_over_its_time_budget_fails_with_timeout_error(tmp_path: Path, fake: FakeBeatport) -> None:
    fake.slow(TOP100, delay=6)
    with deployment(tmp_path, fake, settings={**FAST, "COLLECTION_TASK_TIMEOUT_SECONDS": "2"}) as d:
        started = time.monotonic()
        done = _finished(d, _collect(d))
        elapsed = time.monotonic() - started
        letters = api.get(f"{d.base}/tasks/dead-letters").json()["items"]
    assert done["state"] == "failure", done
    assert done["error"]["type"] == "TimeoutError"
    assert "2.0 s time budget" in done["error"]["message"]
    assert elapsed < 6
    assert letters[0]["error_type"] == "TimeoutError"


def test_sigterm_lets_a_running_task_finish(tmp_path: Path, fake: FakeBeatport) -> None:
    fake.slow(TOP100, delay=3)
    with deployment(tmp_path, fake, settings={**FAST, "WORKER_SHUTDOWN_GRACE_SECONDS": "20"}) as d:
        task_id = _collect(d)
        wait_until(lambda: len(fake.requests_to(TOP100)) == 1, what="the worker to request the page")
        d.worker.signal(signal.SIGTERM)
        d.worker.proc.wait(20)  # the worker waits for its task, then exits
        done = _status(d, task_id)
    assert done["state"] == "success" and done["attempt"] == 1, done


def test_sigterm_hands_back_what_could_not_finish(tmp_path: Path, fake: FakeBeatport) -> None:
    hold = _held_then_normal(fake)
    settings = {**FAST, "TASK_VISIBILITY_TIMEOUT_SECONDS": "60", "WORKER_SHUTDOWN_GRACE_SECONDS": "1"}
    with deployment(tmp_path, fake, settings=settings) as d:
        task_id = _collect(d)
        wait_until(lambda: len(fake.requests_to(TOP100)) == 1, what="the worker to request the page")
        d.worker.signal(signal.SIGTERM)
        d.worker.proc.wait(15)
        hold.set()
        d.start_worker()
        started = time.monotonic()
        done = _finished(d, task_id, timeout=30)
    assert done["state"] == "success" and done["attempt"] == 2, done
    # Handed back, not waiting out the 60 s visibility timeout.
    assert time.monotonic() - started < 20


def test_cancel_queued_and_running_tasks(tmp_path: Path, fake: FakeBeatport) -> None:
    # Both blockers serve the tech-house page, so together they store the same 100 tracks.
    holds = [_held_then_normal(fake, p) for p in ("/top-100", "/genre/afro-house/89/top-100")]
    track_ids = fake.serve_label_tracks(101510, pages=3)
    label_path = "/label/_/101510/tracks"
    fake.server.add("GET", label_path, _slow_handler(fake, label_path, delay=1.5))
    with deployment(tmp_path, fake, settings={**FAST, "WORKER_CONCURRENCY": "1"}) as d:
        # Two workers' single slots are taken by held tasks, so the third task stays queued.
        blockers = [_collect(d, {"url": "/top-100"}), _collect(d, {"genre": "afro-house"})]
        wait_until(lambda: all(_status(d, t)["state"] == "running" for t in blockers), what="both slots busy")
        queued = _collect(d, {"genre": "tech-house"})
        assert _status(d, queued)["state"] == "queued"
        cancelled = api.delete(f"{d.base}/tasks/{queued}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        for hold in holds:
            hold.set()
        for task_id in blockers:
            assert _finished(d, task_id)["state"] == "success"

        running = _collect(d, {"url": label_path, "max_pages": 3})
        wait_until(lambda: len(fake.requests_to(label_path)) >= 1, what="the label collection to start")
        stopping = api.delete(f"{d.base}/tasks/{running}")
        assert stopping.status_code == 202, stopping.text
        done = _finished(d, running)
        # Every message has been read and acknowledged: had the cancelled task's message been delivered, it
        # would have run by now (and asked the site for its page).
        wait_until(
            lambda: _queue_settled(d.redis_url), what="the queue to hold nothing unread or unacknowledged"
        )
        again = api.delete(f"{d.base}/tasks/{running}")
        assert again.status_code == 409, f"{again.text}\n{done}\n{d.logs()}"
        counts = row_counts(d.database_url)
    assert fake.requests_to(TOP100) == []  # the task cancelled while queued never ran
    assert done["state"] == "cancelled", done
    assert done["result"]["cancelled"] is True
    assert 1 <= done["result"]["pages_fetched"] < 3
    assert done["result"]["tracks_seen"] == 150 * done["result"]["pages_fetched"] < len(track_ids)
    # What the cancelled collection stored before stopping is kept, in whole pages. The fake's label listing
    # starts with the same 100 real tracks the blockers stored, then shifted copies.
    stored_by_label = set(track_ids[: done["result"]["tracks_seen"]])
    assert counts["tracks"] == len(set(track_ids[:100]) | stored_by_label)


def _slow_handler(fake: FakeBeatport, path: str, delay: float) -> Any:
    listing = fake.server._routes[("GET", path)][0]  # the paginated listing handler served above

    def handler(request: Any) -> FakeResponse:
        time.sleep(delay)
        response: FakeResponse = listing(request)  # type: ignore[operator]
        return response

    return handler


def test_duplicate_request_returns_the_active_task(tmp_path: Path, fake: FakeBeatport) -> None:
    hold = _held_then_normal(fake)
    with deployment(tmp_path, fake, settings=FAST) as d:
        first = api.post(f"{d.base}/collect/beatport/collect", json={"url": TOP100})
        second = api.post(f"{d.base}/collect/beatport/collect", json={"genre": "tech-house"})
        assert first.status_code == 202
        assert second.status_code == 200, second.text
        assert second.json()["task_id"] == first.json()["task_id"]
        assert second.json()["duplicate_of_active"] is True
        assert second.headers["location"] == first.headers["location"]
        # Once queued, the claim lasts as long as the task's status, not just the short pre-enqueue window.
        claim = redis.Redis.from_url(d.redis_url)
        try:
            identity = collection_identity({"target": TOP100, "max_pages": None})
            key = KEY_PREFIX + fingerprint("collect_bp_tracks", {"identity": identity})
            assert claim.get(key) == first.json()["task_id"].encode()
            assert int(claim.ttl(key)) > CLAIM_SECONDS
        finally:
            claim.close()
        hold.set()
        assert _finished(d, first.json()["task_id"])["state"] == "success"
        third = api.post(f"{d.base}/collect/beatport/collect", json={"url": TOP100})
        assert third.status_code == 202 and third.json()["task_id"] != first.json()["task_id"]
        assert _finished(d, third.json()["task_id"])["state"] == "success"


def test_redis_outage_is_reported_and_survived(tmp_path: Path, fake: FakeBeatport) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    private = PrivateRedis(redis_dir, persistent=True)
    private.start()
    try:
        with deployment(tmp_path, fake, with_worker=False, redis_url=private.url, settings=FAST) as d:
            before_outage = _collect(d)  # queued while no worker runs: it must survive the outage
            private.stop()

            started = time.monotonic()
            enqueue = api.post(f"{d.base}/collect/beatport/collect", json={"genre": "afro-house"}, timeout=30)
            assert enqueue.status_code == 503, enqueue.text
            assert "Redis" in enqueue.json()["detail"] and "nothing was enqueued" in enqueue.json()["detail"]
            status = api.get(f"{d.base}/tasks/status/{before_outage}", timeout=30)
            assert status.status_code == 503
            health = api.get(f"{d.base}/health", timeout=30)
            assert health.status_code == 503
            assert health.json()["checks"]["redis"]["ok"] is False
            assert health.json()["checks"]["database"]["ok"] is True
            assert time.monotonic() - started < 20  # each answer within a few seconds, no hanging

            worker = d.start_worker(wait_listening=False)  # starts while Redis is down: it must wait, not die
            time.sleep(3)
            assert worker.proc.poll() is None, worker.log()

            private.start()  # same directory: the append-only file brings the queue back
            assert _finished(d, before_outage)["state"] == "success"

            private.stop()  # a second outage while the worker is running and idle
            time.sleep(3)
            private.start()
            after = _collect(d)  # the first collection finished, so this is not a duplicate
            assert _finished(d, after)["state"] == "success"
            assert worker.proc.poll() is None  # the same worker process, never restarted
            assert api.get(f"{d.base}/health").status_code == 200
    finally:
        private.stop()
