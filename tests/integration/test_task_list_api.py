"""`GET /tasks` in embedded mode (in-process broker, statuses in memory): recent tasks newest first in the status
shape, filters, cursors that stay put while tasks arrive, expiry, and its limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.runtime import build_runtime
from app.runtime.task_status import ErrorInfo, StatusStore
from tests.auth import ADMIN_HEADERS

COLLECT, ENRICH = "collect_bp_tracks", "enrich_spotify_data"


def statuses_of(app: FastAPI) -> StatusStore:
    store: StatusStore = app.state.runtime.statuses
    return store


async def queue(store: StatusStore, count: int, *, task_name: str = COLLECT) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(count)]
    for task_id in ids:
        await store.mark_queued(task_id, task_name=task_name, arguments={})
    return ids


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/tasks", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["task_id"] for item in body["items"]]


async def test_recent_tasks_newest_first_with_filters(
    client: httpx.AsyncClient, embedded_app: FastAPI
) -> None:
    store = statuses_of(embedded_app)
    collects = await queue(store, 4)
    enriches = await queue(store, 3, task_name=ENRICH)
    await store.start(collects[0], task_name=COLLECT)
    await store.finish(collects[0], result={"tracks_seen": 3}, release_claim=None, delivery=None)
    await store.mark_failure(enriches[1], error=ErrorInfo(type="SpotifyError", message="quota"))

    everything = await listed(client)
    assert ids(everything) == [*enriches[::-1], *collects[::-1]]
    assert everything["limit"] == 50 and everything["next_cursor"] is None
    for item in everything["items"]:  # each item is what GET /tasks/status/{id} answers
        assert item == (await client.get(f"/tasks/status/{item['task_id']}")).json()

    assert ids(await listed(client, state="success")) == [collects[0]]
    assert ids(await listed(client, state="failure")) == [enriches[1]]
    assert ids(await listed(client, task_name=ENRICH)) == enriches[::-1]
    assert ids(await listed(client, state="queued", task_name=COLLECT)) == collects[:0:-1]
    assert ids(await listed(client, state="cancelled")) == []


async def test_a_cursor_pages_on_while_new_tasks_arrive(
    client: httpx.AsyncClient, embedded_app: FastAPI
) -> None:
    store = statuses_of(embedded_app)
    old = await queue(store, 12)
    first = await listed(client, limit=5)
    assert ids(first) == old[:6:-1] and first["next_cursor"]
    arrived = await queue(store, 4)
    second = await listed(client, limit=5, cursor=first["next_cursor"])
    assert ids(second) == old[6:1:-1]
    await queue(store, 2)
    third = await listed(client, limit=5, cursor=second["next_cursor"])
    assert ids(third) == old[1::-1] and third["next_cursor"] is None
    assert ids(await listed(client, limit=6))[2:] == arrived[::-1]


async def test_a_real_collection_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/collect/beatport/collect", json={"genre": "tech-house"})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 30
    while (newest := (await listed(client, task_name=COLLECT))["items"][0])["state"] != "success":
        assert newest["task_id"] == task_id and newest["state"] in {"queued", "running"}, newest
        assert time.monotonic() < deadline, newest
        await asyncio.sleep(0.05)
    assert newest["task_id"] == task_id and newest["result"]["tracks_created"] == 100
    assert ids(await listed(client, state="success")) == [task_id]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"state": "done"},
        {"task_name": ""},
        {"cursor": "not-a-cursor"},
        {"cursor": "MTIzOg"},  # "123:" without a task id
        {"cursor": "x" * 201},
        {"offset": 10},  # unknown parameter
    ],
)
async def test_bad_listing_parameters_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/tasks", params=params)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


async def test_the_largest_limit_is_accepted(client: httpx.AsyncClient) -> None:
    assert (await listed(client, limit=500))["limit"] == 500


@pytest.fixture
async def short_lived(embedded_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with statuses that live one second (TASK_RESULT_TTL_SECONDS=1)."""
    settings = embedded_settings.model_copy(update={"task_result_ttl_seconds": 1})
    app = create_app(settings, task_runtime=build_runtime(settings))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cratedigger.test", headers=ADMIN_HEADERS
        ) as http,
    ):
        yield app, http


async def test_expired_statuses_leave_the_listing(short_lived: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = short_lived
    store = statuses_of(app)
    expiring = await queue(store, 3)
    assert ids(await listed(client)) == expiring[::-1]
    deadline = time.monotonic() + 15
    while ids(await listed(client)):
        assert time.monotonic() < deadline, "statuses with a 1 s TTL never left the listing"
        await asyncio.sleep(0.05)
    fresh = await queue(store, 1)
    assert ids(await listed(client)) == fresh
    assert (await client.get(f"/tasks/status/{expiring[0]}")).status_code == 404
