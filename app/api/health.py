from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from app.api.deps import ResourcesDep
from app.broker import broker, is_durable, redis_client
from app.db.metrics import catalog_counts
from app.durable_broker import DurableStreamBroker

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


async def _check(coro: Awaitable[Any]) -> dict[str, Any]:
    try:
        value = await asyncio.wait_for(coro, CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # a health check reports every failure, it never raises
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return {"ok": False, "error": reason}
    return {"ok": True, **(value if isinstance(value, dict) else {})}


@router.get("/health")
async def health(resources: ResourcesDep) -> JSONResponse:
    """Database and Redis reachability and workers seen recently; 503 with the reason when one is missing."""

    async def database() -> None:
        async with resources.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def redis() -> None:
        client = redis_client(resources.settings)
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def workers() -> dict[str, Any]:
        assert isinstance(broker, DurableStreamBroker)
        seen = await broker.seen_workers()
        if not seen:
            raise RuntimeError(
                "no worker has reported in the last 30 s: run `taskiq worker app.worker:broker`"
            )
        return {"seen": len(seen), "running_tasks": sum(int(w.get("running", 0)) for w in seen)}

    checks: dict[str, Any] = {"database": await _check(database())}
    if is_durable():
        checks["redis"] = await _check(redis())
        checks["workers"] = (
            await _check(workers()) if checks["redis"]["ok"] else {"ok": False, "error": "Redis is down"}
        )
    else:
        note = "REDIS_URL unset: in-process broker, tasks are not durable"
        checks["redis"] = {"ok": True, "note": note}
        checks["workers"] = {"ok": True, "note": "tasks run inside the API process"}
    healthy = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status_code=200 if healthy else 503
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(resources: ResourcesDep) -> PlainTextResponse:
    """Prometheus text: catalog size, queue depth, delayed and dead-lettered tasks, live workers."""
    lines: list[str] = []

    def gauge(name: str, value: float, help_text: str) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"])

    async with resources.sessions() as session:
        counts = await catalog_counts(session)
    gauge("cratedigger_tracks", counts["tracks"], "Tracks stored.")
    gauge("cratedigger_tracks_spotify_matched", counts["matched"], "Tracks matched on Spotify.")
    gauge(
        "cratedigger_tracks_spotify_checked", counts["checked"], "Tracks checked on Spotify (matched or not)."
    )
    gauge("cratedigger_dead_letters", counts["dead_letters"], "Tasks that failed for good.")
    if isinstance(broker, DurableStreamBroker):
        depth = await broker.queue_depth()
        gauge("cratedigger_tasks_waiting", depth["waiting"], "Tasks in the stream not yet taken by a worker.")
        gauge(
            "cratedigger_tasks_in_progress",
            depth["pending"],
            "Tasks taken by a worker and not yet acknowledged.",
        )
        gauge("cratedigger_tasks_delayed", depth["delayed"], "Tasks waiting for their retry or resume time.")
        gauge(
            "cratedigger_workers_seen",
            len(await broker.seen_workers()),
            "Workers that reported in the last 30 s.",
        )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
