from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.api.access import METRICS, PublicCaller
from app.api.deps import ResourcesDep, RuntimeDep
from app.api.task_event_routes import open_streams
from app.db.metrics import catalog_counts
from app.runtime.worker_registry import WorkerRegistry
from app.services.spotify_account import RECONNECT_HINT

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


async def _check(coro: Awaitable[Any]) -> dict[str, Any]:
    try:
        value = await asyncio.wait_for(coro, CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # a health check reports every failure, it never raises
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return {"ok": False, "error": reason}
    return {"ok": True, **(value if isinstance(value, dict) else {})}


async def _workers(registry: WorkerRegistry) -> dict[str, Any]:
    seen = await registry.seen_workers()
    if not seen:
        raise RuntimeError("no worker has reported in the last 30 s: run `taskiq worker app.worker:broker`")
    return {"seen": len(seen), "running_tasks": sum(int(w.get("running", 0)) for w in seen)}


async def _redis(runtime: RuntimeDep) -> dict[str, Any]:
    assert runtime.redis is not None and runtime.workers is not None
    await runtime.redis.ping()
    lost_at = await runtime.workers.data_lost_at()
    if lost_at is None:
        return {}
    return {
        "data_lost_at": lost_at.isoformat(),
        "note": "Redis lost its data (restarted empty or failed over) at this time: statuses, schedules and "
        "duplicate claims of tasks before it are gone; tasks enqueued since were recovered",
    }


async def _spotify_account(resources: ResourcesDep) -> dict[str, Any] | None:
    """The connected Spotify account, when there is one. Needing re-consent is reported, not counted as a
    failure: the service itself is fine, a person has to connect the account again."""
    found = await resources.spotify_accounts().status()
    if found is None:
        return None
    details: dict[str, Any] = {
        "ok": True,
        "spotify_user_id": found.spotify_user_id,
        "consent_expires_at": found.consent_expires_at.isoformat(),
        "needs_reconsent": found.needs_reconsent,
    }
    if found.needs_reconsent:
        details["note"] = f"{found.reconsent_reason}: {RECONNECT_HINT}"
    return details


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    # database, redis, workers, spotify_account (when one is connected): {"ok": bool, "error"?, "note"?, …};
    # only for callers with a key
    checks: dict[str, dict[str, Any]] | None = None


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "A check failed: its `error` says why"}},
)
async def health(caller: PublicCaller, resources: ResourcesDep, runtime: RuntimeDep) -> JSONResponse:
    """Database and Redis reachability and workers seen recently; 503 with the reason when one is missing.

    Without an API key only the overall `status` is shown."""

    async def database() -> None:
        async with resources.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    checks: dict[str, Any] = {"database": await _check(database())}
    if runtime.workers is not None:
        checks["redis"] = await _check(_redis(runtime))
        checks["workers"] = (
            await _check(_workers(runtime.workers))
            if checks["redis"]["ok"]
            else {"ok": False, "error": "Redis is down"}
        )
    else:
        note = "REDIS_URL unset: in-process broker, tasks are not durable"
        checks["redis"] = {"ok": True, "note": note}
        checks["workers"] = {"ok": True, "note": "tasks run inside the API process"}
    if checks["database"]["ok"]:
        account = await _check(_spotify_account(resources))
        if not account["ok"] or len(account) > 1:  # a connected account, or the error reading it
            checks["spotify_account"] = account
    healthy = all(c["ok"] for c in checks.values())
    report: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    if caller is not None:
        report["checks"] = checks
    return JSONResponse(report, status_code=200 if healthy else 503)


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[METRICS])
async def metrics(request: Request, resources: ResourcesDep, runtime: RuntimeDep) -> PlainTextResponse:
    """Prometheus text: catalog size, queue depth, delayed and dead-lettered tasks, live workers, open task event
    streams."""
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
    gauge(
        "cratedigger_task_event_streams",
        open_streams(request.app).count,
        "Task event streams (GET /tasks/{id}/events) this API process is serving.",
    )
    if runtime.workers is not None:
        depth = await runtime.workers.queue_depth()
        gauge("cratedigger_tasks_waiting", depth["waiting"], "Tasks in the stream not yet taken by a worker.")
        gauge(
            "cratedigger_tasks_in_progress",
            depth["pending"],
            "Tasks taken by a worker and not yet acknowledged.",
        )
        gauge("cratedigger_tasks_delayed", depth["delayed"], "Tasks waiting for their retry or resume time.")
        gauge(
            "cratedigger_workers_seen",
            len(await runtime.workers.seen_workers()),
            "Workers that reported in the last 30 s.",
        )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
