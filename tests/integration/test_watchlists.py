"""Watchlists in the embedded mode (in-process tasks, SQLite), against a loopback Beatport and webhook receiver:
validation at the edge, first-seen tracking, the Atom feed and its token, and the webhook's refusals."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import feedparser
import httpx
import pytest
from fastapi import FastAPI
from pydantic import HttpUrl, SecretStr
from redis.asyncio import Redis

from app.config import Settings
from app.db import api_keys
from app.db.api_keys import Scope
from app.main import create_app
from app.runtime.cron_schedules import ScheduleStore
from app.services import watchlists
from app.services.resources import Resources
from tests.auth import ADMIN_HEADERS
from tests.fakes.beatport import FakeBeatport
from tests.fakes.server import FakeHTTPServer

LABEL_ID = 4711
LABEL = f"/label/_/{LABEL_ID}/tracks"
SECRET_KEY = "watchlist-tests-secret-key"
BASE = "http://cratedigger.test"


@pytest.fixture
def fake() -> Iterator[FakeBeatport]:
    with FakeBeatport() as server:
        server.serve_label_tracks(LABEL_ID, pages=2)  # 150 + 50 tracks
        yield server


def settings_for(embedded_settings: Settings, fake: FakeBeatport, **values: Any) -> Settings:
    """The embedded settings (a migrated SQLite file) with the fake Beatport and a SECRET_KEY."""
    update = {"beatport_base_url": HttpUrl(fake.url), "secret_key": SecretStr(SECRET_KEY), **values}
    return embedded_settings.model_copy(update={"schedule_enrich_cron": None, **update})


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process; the client sends the admin key (`anonymous(client)` sends none)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE, headers=ADMIN_HEADERS) as client,
        httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous_client,
    ):
        _apps[client] = (app, anonymous_client)
        try:
            yield client
        finally:
            del _apps[client]


_apps: dict[httpx.AsyncClient, tuple[FastAPI, httpx.AsyncClient]] = {}


def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return _apps[client][1]


def resources_of(client: httpx.AsyncClient) -> Resources:
    resources: Resources = _apps[client][0].state.resources
    return resources


async def finished(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await client.get(f"/tasks/status/{task_id}")).json()
        if status["state"] in {"success", "failure", "cancelled"}:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {status}")


async def dead_letter(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """The task's dead letter, once written (a failed status is recorded just before it)."""
    for _ in range(200):
        letters: list[dict[str, Any]] = (await client.get("/tasks/dead-letters")).json()["items"]
        found = [letter for letter in letters if letter["task_id"] == task_id]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no dead letter for task {task_id}")


async def run(client: httpx.AsyncClient, watchlist_id: int) -> dict[str, Any]:
    response = await client.post(f"/watchlists/{watchlist_id}/run")
    assert response.status_code == 202, response.text
    done = await finished(client, response.json()["task_id"])
    assert done["state"] == "success", done
    result: dict[str, Any] = done["result"]
    return result


async def create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(
        "/watchlists", json={"name": "Label watch", "targets": [LABEL], "cron": "0 7 * * *", **body}
    )


async def key_of(client: httpx.AsyncClient, scope: Scope) -> dict[str, str]:
    async with resources_of(client).sessions() as session:
        _, secret = await api_keys.create_key(session, name=f"watch-{scope.name}", scope=scope)
    return {"Authorization": f"Bearer {secret}"}


async def test_targets_cron_and_limits_are_checked_before_anything_is_made(
    embedded_settings: Settings, fake: FakeBeatport
) -> None:
    async with serving(settings_for(embedded_settings, fake, schedules_max=1)) as client:
        release = await create(client, targets=[LABEL, "/release/some-release/123"])
        assert release.status_code == 422
        assert "targets[1]" in release.json()["detail"] and "release page" in release.json()["detail"]
        foreign = await create(client, targets=["https://example.com/label/x/1/tracks"])
        assert foreign.status_code == 422 and "targets[0]" in foreign.json()["detail"]
        often = await create(client, cron="*/5 * * * *")
        assert often.status_code == 422 and "SCHEDULE_MIN_INTERVAL_MINUTES" in often.json()["detail"]
        assert (await create(client, max_pages=51)).status_code == 422  # COLLECT_MAX_PAGES
        assert (await client.get("/watchlists")).json() == []

        made = await create(
            client, targets=[LABEL, "/de/label/other-slug/4711", "/genre/tech-house/11/top-100"]
        )
        assert made.status_code == 201, made.text
        assert made.json()["targets"] == [LABEL, "/genre/tech-house/11/top-100"]  # one label, however spelt
        assert made.headers["location"] == f"/watchlists/{made.json()['id']}"
        full = await create(client)
        assert full.status_code == 422 and "SCHEDULES_MAX=1" in full.json()["detail"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:8080/hook", "'127.0.0.1' is not a public address"),
        ("http://[::1]/hook", "'::1' is not a public address"),
        ("http://10.1.2.3/hook", "not a public address"),
        ("http://localhost:9/hook", "resolves to 127.0.0.1"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/hook", "credentials"),
    ],
)
async def test_a_webhook_must_be_public_when_made(
    embedded_settings: Settings, fake: FakeBeatport, url: str, says: str
) -> None:
    async with serving(settings_for(embedded_settings, fake)) as client:
        refused = await create(client, webhook_url=url)
    assert refused.status_code == 422
    assert "webhook_url" in refused.json()["detail"] and says in refused.json()["detail"]


async def test_a_webhook_needs_a_secret_key_to_seal_its_secret(
    embedded_settings: Settings, fake: FakeBeatport
) -> None:
    settings = settings_for(embedded_settings, fake, webhook_allow_private=True).model_copy(
        update={"secret_key": None}
    )
    async with serving(settings) as client:
        refused = await create(client, webhook_url="http://127.0.0.1:9/hook")
        assert refused.status_code == 503 and "SECRET_KEY" in refused.json()["detail"]
        assert (await create(client)).status_code == 201  # a feed needs no secret key


async def test_runs_record_what_is_new_and_the_feed_shows_it(
    embedded_settings: Settings, fake: FakeBeatport
) -> None:
    async with serving(settings_for(embedded_settings, fake)) as client:
        made = (await create(client)).json()
        watchlist_id, feed_url = made["id"], made["feed_url"]
        assert made["webhook_secret"] is None and made["next_run_at"] is None  # embedded: no scheduler

        first = await run(client, watchlist_id)
        assert first["new_tracks"] == 200 and first["webhook_task_id"] is None
        assert first["targets"][0]["pages_fetched"] == 2
        first_seen = (await client.get(f"/watchlists/{watchlist_id}/tracks", params={"limit": 500})).json()
        assert first_seen["total"] == 200 and {t["run_id"] for t in first_seen["items"]} == {first["run_id"]}

        added = fake.add_listing_tracks(LABEL, 3)
        second = await run(client, watchlist_id)
        assert second["new_tracks"] == 3
        since = first_seen["items"][0]["first_seen_at"]  # the first run's newest sighting
        newer = (await client.get(f"/watchlists/{watchlist_id}/tracks", params={"since": since})).json()
        later = [t for t in newer["items"] if t["run_id"] == second["run_id"]]
        assert {t["id"] for t in later} == set(added) and newer["items"][:3] == later  # newest first
        assert later[0]["label"]["id"] == LABEL_ID and "artists" in later[0] and "bpm" in later[0]
        assert (await run(client, watchlist_id))["new_tracks"] == 0
        shown = (await client.get(f"/watchlists/{watchlist_id}")).json()
        assert shown["last_run"]["new_tracks"] == 0 and shown["feed_url"] is None

        response = await anonymous(client).get(feed_url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo and parsed.version == "atom10"
        assert len(parsed.entries) == 100  # the newest 100 of 203
        assert {int(e.link.rsplit("/", 1)[1]) for e in parsed.entries[:3]} == set(added)
        assert all(e.id.startswith("tag:cratedigger,") for e in parsed.entries)
        assert " – " in parsed.entries[0].title and "[Fake Label]" in parsed.entries[0].title
        assert "BPM" in parsed.entries[0].summary

        unchanged = await anonymous(client).get(feed_url, headers={"If-None-Match": response.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.headers["etag"] == response.headers["etag"]


async def test_the_feed_token_opens_that_feed_only_and_a_reset_replaces_it(
    embedded_settings: Settings, fake: FakeBeatport
) -> None:
    async with serving(settings_for(embedded_settings, fake)) as client:
        one = (await create(client)).json()
        two = (await create(client, name="Another")).json()
        read_key = await key_of(client, Scope.read)
        nobody = anonymous(client)
        base = f"/feeds/watchlists/{one['id']}.atom"
        token = httpx.URL(one["feed_url"]).params["token"]

        assert (await nobody.get(one["feed_url"])).status_code == 200
        assert (await client.get(one["feed_url"], headers=read_key)).status_code == 200
        missing = await client.get(base, headers=read_key)  # a key of any scope is no feed token
        wrong = await nobody.get(base, params={"token": "x" * 43})
        other = await nobody.get(f"/feeds/watchlists/{two['id']}.atom", params={"token": token})
        unknown = await nobody.get("/feeds/watchlists/999.atom", params={"token": token})
        for refused in (missing, wrong, other, unknown):
            assert refused.status_code == 404 and refused.json() == (await nobody.get(base)).json()

        reset = await client.post(f"/watchlists/{one['id']}/feed-token")
        assert reset.status_code == 200 and reset.json()["feed_url"] != one["feed_url"]
        assert (await nobody.get(one["feed_url"])).status_code == 404
        assert (await nobody.get(reset.json()["feed_url"])).status_code == 200

        assert (await client.delete(f"/watchlists/{one['id']}")).status_code == 204
        assert (await nobody.get(reset.json()["feed_url"])).status_code == 404
        assert (await client.get(f"/watchlists/{one['id']}")).status_code == 404
        assert (await client.delete(f"/watchlists/{one['id']}")).status_code == 404
        assert (await client.post(f"/watchlists/{one['id']}/run")).status_code == 404


async def test_the_webhook_secret_is_for_the_creator_and_admins(
    embedded_settings: Settings, fake: FakeBeatport, webhook_receiver: FakeHTTPServer
) -> None:
    async with serving(settings_for(embedded_settings, fake, webhook_allow_private=True)) as client:
        write_key = await key_of(client, Scope.write)
        made = await client.post(
            "/watchlists",
            json={
                "name": "w",
                "targets": [LABEL],
                "cron": "0 7 * * *",
                "webhook_url": f"{webhook_receiver.url}/hook",
            },
            headers=write_key,
        )
        assert made.status_code == 201, made.text
        secret = made.json()["webhook_secret"]
        assert secret and len(secret) >= 32
        path = f"/watchlists/{made.json()['id']}"
        assert (await client.get(path)).json()["webhook_secret"] == secret  # admin
        assert (await client.get(path, headers=write_key)).json()["webhook_secret"] is None
        assert (await client.get(path, headers=await key_of(client, Scope.read))).json()[
            "webhook_secret"
        ] is None
        assert all(w["webhook_secret"] is None for w in (await client.get("/watchlists")).json())


async def test_one_signed_webhook_per_run_with_new_tracks(
    embedded_settings: Settings, fake: FakeBeatport, webhook_receiver: FakeHTTPServer
) -> None:
    async with serving(settings_for(embedded_settings, fake, webhook_allow_private=True)) as client:
        made = (await create(client, webhook_url=f"{webhook_receiver.url}/hook")).json()
        first = await run(client, made["id"])
        delivery = await finished(client, first["webhook_task_id"])
        assert delivery["state"] == "success" and delivery["result"]["status"] == 200, delivery
        (request,) = webhook_receiver.requests_to("/hook", "POST")
        expected = hmac.new(made["webhook_secret"].encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-cratedigger-signature"] == f"sha256={expected}"
        assert request.headers["x-cratedigger-delivery"] == first["run_id"]
        body = request.json()
        assert body["watchlist"] == {"id": made["id"], "name": "Label watch"}
        assert (
            body["run"]["id"] == first["run_id"] and body["run"]["new_tracks"] == len(body["tracks"]) == 200
        )

        second = await run(client, made["id"])
        assert second["new_tracks"] == 0 and second["webhook_task_id"] is None
        assert len(webhook_receiver.requests_to("/hook", "POST")) == 1


async def test_a_webhook_to_a_private_address_is_refused_at_delivery(
    embedded_settings: Settings, fake: FakeBeatport, webhook_receiver: FakeHTTPServer
) -> None:
    """Made while private addresses were allowed (or resolving publicly then), delivered after: refused."""
    async with serving(settings_for(embedded_settings, fake, webhook_allow_private=True)) as client:
        made = (await create(client, webhook_url=f"{webhook_receiver.url}/hook")).json()
    async with serving(settings_for(embedded_settings, fake)) as client:
        result = await run(client, made["id"])
        delivery = await finished(client, result["webhook_task_id"])
        letter = await dead_letter(client, result["webhook_task_id"])
    assert letter["task_name"] == "deliver_watchlist_webhook"
    assert letter["arguments"] == {"watchlist_id": made["id"], "run_id": result["run_id"]}
    assert delivery["state"] == "failure" and delivery["attempt"] == 1  # permanent: not retried
    message = delivery["error"]["message"]
    assert "'127.0.0.1' is not a public address" in message and "WEBHOOK_ALLOW_PRIVATE=true" in message
    assert webhook_receiver.requests_to("/hook", "POST") == []


async def test_a_watchlist_schedule_lives_in_the_schedule_store(
    embedded_settings: Settings, fake: FakeBeatport, redis_url: str
) -> None:
    """With a ScheduleStore (Redis), a watchlist is a schedule of kind `watchlist` that runs `run_watchlist`,
    added and removed with the watchlist."""
    async with serving(settings_for(embedded_settings, fake)) as client:
        resources = resources_of(client)
        redis = Redis.from_url(redis_url)
        store = ScheduleStore(redis)
        try:
            created = await watchlists.create_watchlist(
                sessions=resources.sessions,
                store=store,
                box=None,
                name="scheduled",
                targets=watchlists.watched_targets([LABEL]),
                max_pages=None,
                cron="0 7 * * *",
                timezone="Europe/Berlin",
                webhook_url=None,
            )
            (schedule,) = await store.dynamic()
            assert (schedule.kind, schedule.source, schedule.task_name) == (
                "watchlist",
                "watchlist",
                "run_watchlist",
            )
            assert schedule.arguments == {"watchlist_id": created.watchlist.id}
            assert (schedule.cron, schedule.timezone) == ("0 7 * * *", "Europe/Berlin")
            deleted = await watchlists.delete_watchlist(
                sessions=resources.sessions, store=store, watchlist_id=created.watchlist.id
            )
            assert deleted and await store.dynamic() == []
        finally:
            await redis.aclose()
