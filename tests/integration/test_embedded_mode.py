"""Embedded default: no REDIS_URL, SQLite, tasks run in-process; the same API flow as the deployed one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.broker import runtime
from app.db.models import ChartEntry, Track, TrackArtist
from app.services.resources import Resources


async def _wait_finished(client: httpx.AsyncClient, task_id: str, wait_seconds: float = 30) -> dict[str, Any]:
    for _ in range(int(wait_seconds / 0.05)):
        response = await client.get(f"/tasks/status/{task_id}")
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        if status["state"] in {"success", "failure", "cancelled"}:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {status}")


async def _count(app: FastAPI, model: Any) -> int:
    resources: Resources = app.state.resources
    async with resources.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_embedded_mode_collects_top100(client: httpx.AsyncClient, embedded_app: FastAPI) -> None:
    assert not runtime.durable
    response = await client.post("/collect/beatport/collect", json={"url": "/de/genre/any-slug/11/top-100"})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    assert response.headers["location"] == f"/tasks/status/{task_id}"

    status = await _wait_finished(client, task_id)
    assert status["state"] == "success", status
    assert status["result"]["tracks_created"] == 100
    assert status["attempt"] == 1
    assert await _count(embedded_app, Track) == 100
    assert await _count(embedded_app, ChartEntry) == 100
    links = await _count(embedded_app, TrackArtist)

    again = await client.post("/collect/beatport/collect", json={"genre": 11})
    status = await _wait_finished(client, again.json()["task_id"])
    assert status["result"]["tracks_unchanged"] == 100
    assert await _count(embedded_app, Track) == 100
    assert await _count(embedded_app, TrackArtist) == links
    assert await _count(embedded_app, ChartEntry) == 200


async def test_health_in_embedded_mode(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert "not durable" in body["checks"]["redis"]["note"]


async def test_an_unknown_task_in_embedded_mode_says_why_it_may_be_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get("/tasks/status/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert "embedded mode" in response.json()["detail"] and "restart loses them" in response.json()["detail"]
