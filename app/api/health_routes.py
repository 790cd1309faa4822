from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.api.access import PublicCaller
from app.api.deps import ResourcesDep, RuntimeDep
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
