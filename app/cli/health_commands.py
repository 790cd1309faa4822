"""`cratedigger health api|worker|scheduler`: exit 0 when that process is healthy, 1 when not (one line says
why). Compose's healthchecks call it inside each container.

- api: `GET /health` at CRATEDIGGER_URL answers 200 (database, Redis and workers reachable).
- worker: this host has WORKER_PROCESSES fresh heartbeats in Redis (each worker process beats every 10 s and
  its beat lasts 30 s), so a worker process that hangs or cannot reach Redis turns its container unhealthy.
- scheduler: this host's scheduler beat in Redis within the last 3 minutes (it beats when it re-reads the
  schedules, once a minute).
"""

from __future__ import annotations

import asyncio
import socket
from enum import StrEnum
from typing import Annotated

import httpx
import typer

from app.config import Settings

CHECK_TIMEOUT_SECONDS = 5.0


class Process(StrEnum):
    api = "api"
    worker = "worker"
    scheduler = "scheduler"


def _api(settings: Settings) -> tuple[bool, str]:
    url = settings.cratedigger_url.rstrip("/") + "/health"
    try:
        response = httpx.get(url, timeout=CHECK_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return False, f"{url}: {type(error).__name__}"
    return response.status_code == 200, f"{url} answered {response.status_code} {response.text.strip()}"


async def _heartbeats(settings: Settings, process: Process) -> tuple[bool, str]:
    from app.runtime import build_runtime

    if not settings.redis_url:
        return False, "REDIS_URL is not set: workers and the scheduler need Redis"
    runtime = build_runtime(settings)
    assert runtime.workers is not None
    try:
        reader = (
            runtime.workers.seen_workers if process is Process.worker else runtime.workers.seen_schedulers
        )
        seen = await asyncio.wait_for(reader(), CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # a health check reports every failure, it never raises
        return False, f"Redis cannot be read: {type(error).__name__}: {error}"
    finally:
        await runtime.close()
    host = socket.gethostname()
    here = sum(1 for beat in seen if beat.get("host") == host)
    expected = settings.worker_processes if process is Process.worker else 1
    return here >= expected, f"{here} of {expected} {process.value} heartbeat(s) from {host} are fresh"


def health(
    process: Annotated[Process, typer.Argument(help="which process of this host to check")] = Process.api,
) -> None:
    """Exit 0 when the process is healthy, 1 when not (for container healthchecks)."""
    settings = Settings()
    if process is Process.api:
        healthy, reason = _api(settings)
    else:
        healthy, reason = asyncio.run(_heartbeats(settings, process))
    typer.echo(f"{process.value}: {'healthy' if healthy else 'unhealthy'}: {reason}")
    raise typer.Exit(0 if healthy else 1)
