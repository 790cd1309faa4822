"""Watchlists through the real processes (api, worker, scheduler; Redis and PostgreSQL), a loopback Beatport
whose label releases new tracks, and a loopback webhook receiver: what is new per run, the Atom feed read by a
real feed parser, signed webhooks, and the refusals."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import start_scheduler, wait_for_state, wait_until
from tests.fakes.beatport import FakeBeatport
from tests.fakes.server import FakeHTTPServer

pytestmark = pytest.mark.e2e

LABEL_ID = 5150
LABEL = f"/label/_/{LABEL_ID}/tracks"


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as server:
        yield server


def _succeeded(d: Deployed, task_id: str) -> dict[str, Any]:
    try:
        done = wait_for_state(d.base, task_id, {"success", "failure", "cancelled"}, timeout=90)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{d.logs()}") from None
    assert done["state"] == "success", f"{done}\n{d.logs()}"
    return done


def _run(d: Deployed, watchlist_id: int) -> dict[str, Any]:
    response = api.post(f"{d.base}/watchlists/{watchlist_id}/run", timeout=10)
    assert response.status_code == 202, response.text
    return _succeeded(d, response.json()["task_id"])


def _verified(request_body: bytes, signature: str, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


def test_new_tracks_per_run_in_the_feed_and_the_signed_webhook(
    tmp_path: Path, fake: FakeBeatport, webhook_receiver: FakeHTTPServer
) -> None:
    served = fake.serve_label_tracks(LABEL_ID, pages=2)  # 150 + 50 tracks
    with deployment(tmp_path, fake, WEBHOOK_ALLOW_PRIVATE="true") as d:  # the receiver is on loopback
        created = api.post(
            f"{d.base}/watchlists",
            json={
                "name": "Label watch",
                "targets": [f"https://www.beatport.com{LABEL}"],
                "cron": "0 7 * * *",
                "webhook_url": f"{webhook_receiver.url}/hook",
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        watchlist = created.json()
        secret, feed_url = watchlist["webhook_secret"], watchlist["feed_url"]
        assert watchlist["next_run_at"] is not None  # scheduled: a deployment has a scheduler

        first = _run(d, watchlist["id"])
        assert first["result"]["new_tracks"] == 200 and fake.pages_requested(LABEL) == [1, 2]
        _succeeded(d, first["result"]["webhook_task_id"])
        added = fake.add_listing_tracks(LABEL, 4)
        second = _run(d, watchlist["id"])
        assert second["result"]["new_tracks"] == 4
        _succeeded(d, second["result"]["webhook_task_id"])
        third = _run(d, watchlist["id"])
        assert third["result"]["new_tracks"] == 0 and third["result"]["webhook_task_id"] is None

        since = api.get(
            f"{d.base}/watchlists/{watchlist['id']}/tracks",
            params={"since": first["finished_at"]},
            timeout=10,
        ).json()
        feed = httpx.get(feed_url, timeout=10)  # no API key: the feed token
        unchanged = httpx.get(feed_url, headers={"If-None-Match": feed.headers["etag"]}, timeout=10)
        without_token = api.get(feed_url.split("?")[0], timeout=10)  # the admin key is no feed token
        reset = api.post(f"{d.base}/watchlists/{watchlist['id']}/feed-token", timeout=10).json()
        old_token = httpx.get(feed_url, timeout=10)
        new_token = httpx.get(reset["feed_url"], timeout=10)

    # What is new: everything at first, then exactly what the label released since.
    assert {t["id"] for t in since["items"]} == set(added) and since["total"] == 4
    assert all(t["run_id"] == second["task_id"] for t in since["items"])

    # The feed: valid Atom, the newest 100, the new releases first, linked to Beatport.
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(feed.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10" and len(parsed.entries) == 100
    assert {int(entry.link.rsplit("/", 1)[1]) for entry in parsed.entries[:4]} == set(added)
    assert {int(entry.link.rsplit("/", 1)[1]) for entry in parsed.entries} <= set(served) | set(added)
    assert len({entry.id for entry in parsed.entries}) == 100 and parsed.entries[0].updated
    assert unchanged.status_code == 304
    assert without_token.status_code == 404 and old_token.status_code == 404
    assert new_token.status_code == 200 and new_token.content.count(b"<entry>") == 100

    # One signed POST per run that found something: none for the third.
    hooks = webhook_receiver.requests_to("/hook", "POST")
    assert len(hooks) == 2
    for hook in hooks:
        assert _verified(hook.body, hook.headers["x-cratedigger-signature"], secret)
    first_body, second_body = (hook.json() for hook in hooks)
    assert first_body["watchlist"] == {"id": watchlist["id"], "name": "Label watch"}
    assert first_body["run"]["id"] == first["task_id"]
    assert {t["id"] for t in first_body["tracks"]} == set(served)
    assert {t["id"] for t in second_body["tracks"]} == set(added)
    assert second_body["run"] == {"id": second["task_id"], "new_tracks": 4, "tracks_sent": 4}


def test_a_webhook_to_a_private_address_is_refused_when_delivered(
    tmp_path: Path, fake: FakeBeatport, webhook_receiver: FakeHTTPServer
) -> None:
    """The watchlist was made while private hosts were allowed (here: by the API process); the worker that
    delivers does not allow them, so the delivery fails at once, saying why."""
    fake.serve_label_tracks(LABEL_ID, pages=1)
    with deployment(tmp_path, fake, with_worker=False, WEBHOOK_ALLOW_PRIVATE="true") as d:
        d.env["WEBHOOK_ALLOW_PRIVATE"] = "false"
        d.start_worker()
        created = api.post(
            f"{d.base}/watchlists",
            json={
                "name": "w",
                "targets": [LABEL],
                "cron": "0 7 * * *",
                "webhook_url": f"{webhook_receiver.url}/hook",
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        run = _run(d, created.json()["id"])
        delivery = wait_for_state(
            d.base, run["result"]["webhook_task_id"], {"success", "failure"}, timeout=30
        )
    assert delivery["state"] == "failure" and delivery["attempt"] == 1, delivery
    assert delivery["error"]["message"] == (
        "Webhook refused: the host '127.0.0.1' is not a public address; set WEBHOOK_ALLOW_PRIVATE=true to "
        "deliver to private or local addresses"
    )
    assert webhook_receiver.requests_to("/hook", "POST") == []


def test_the_scheduler_runs_a_watchlist_on_its_cron(tmp_path: Path, fake: FakeBeatport) -> None:
    fake.serve_label_tracks(LABEL_ID, pages=1)
    with deployment(tmp_path, fake, SCHEDULE_MIN_INTERVAL_MINUTES="1") as d:
        created = api.post(
            f"{d.base}/watchlists",
            json={"name": "every minute", "targets": [LABEL], "cron": "* * * * *"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        watchlist_id = created.json()["id"]
        (schedule,) = api.get(f"{d.base}/schedules", timeout=10).json()
        assert (schedule["kind"], schedule["source"]) == ("watchlist", "watchlist")
        assert schedule["arguments"] == {"watchlist_id": watchlist_id}
        refused = api.delete(f"{d.base}/schedules/{schedule['id']}", timeout=10)
        assert refused.status_code == 409 and f"/watchlists/{watchlist_id}" in refused.json()["detail"]

        scheduler = start_scheduler(d.env, tmp_path)  # "* * * * *" is due as it starts
        try:

            def ran() -> bool:
                shown = api.get(f"{d.base}/watchlists/{watchlist_id}", timeout=10).json()
                return shown["last_run"] is not None

            wait_until(ran, what="the scheduled run of the watchlist", timeout=60)
        finally:
            scheduler.stop()
        shown = api.get(f"{d.base}/watchlists/{watchlist_id}", timeout=10).json()
        last = next(s for s in api.get(f"{d.base}/schedules", timeout=10).json() if s["id"] == schedule["id"])
        assert (
            shown["last_run"]["new_tracks"] == 50
            and last["last_run"]["task_id"] == shown["last_run"]["task_id"]
        )

        assert api.delete(f"{d.base}/watchlists/{watchlist_id}", timeout=10).status_code == 204
        assert api.get(f"{d.base}/schedules", timeout=10).json() == []
