"""`GET /metrics`: the Prometheus text of every process (`app.observability.metrics`) and the deployment's
gauges, read at scrape time: queue depth, delayed tasks, live workers (Redis, a few commands) and the
catalogue counts (counted at most every METRICS_CATALOGUE_REFRESH_SECONDS, not per scrape)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from app.api.access import METRICS
from app.api.deps import ResourcesDep, RuntimeDep
from app.api.task_event_routes import open_streams
from app.db.metrics import catalog_counts
from app.observability.metrics import exposition
from app.services.resources import Resources

router = APIRouter(tags=["health"])

CATALOGUE_GAUGES = {
    "tracks": ("cratedigger_tracks", "Tracks stored."),
    "matched": ("cratedigger_tracks_spotify_matched", "Tracks matched on Spotify."),
    "checked": ("cratedigger_tracks_spotify_checked", "Tracks checked on Spotify (matched or not)."),
    "dead_letters": ("cratedigger_dead_letters", "Dead letters stored (tasks that failed for good)."),
}
QUEUE_GAUGES = {
    "waiting": ("cratedigger_tasks_waiting", "Tasks in the stream not yet taken by a worker."),
    "pending": ("cratedigger_tasks_in_progress", "Tasks taken by a worker and not yet acknowledged."),
    "delayed": ("cratedigger_tasks_delayed", "Tasks waiting for their retry or resume time."),
}


@dataclass
class CatalogueCounts:
    """The last catalogue count of this API process; one scrape at a time recounts once it is stale."""

    refresh_seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    counted_at: float | None = None  # time.time() of the last count
    _counted_monotonic: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self, resources: Resources) -> dict[str, int]:
        if time.monotonic() - self._counted_monotonic < self.refresh_seconds:
            return self.counts
        async with self._lock:
            if time.monotonic() - self._counted_monotonic >= self.refresh_seconds:  # no other scrape did
                async with resources.sessions() as session:
                    self.counts = await catalog_counts(session)
                self._counted_monotonic, self.counted_at = time.monotonic(), time.time()
        return self.counts


def catalogue_counts(app: FastAPI) -> CatalogueCounts:
    if not hasattr(app.state, "catalogue_counts"):
        refresh = app.state.settings.metrics_catalogue_refresh_seconds
        app.state.catalogue_counts = CatalogueCounts(refresh_seconds=refresh)
    counts: CatalogueCounts = app.state.catalogue_counts
    return counts


class DeploymentGauges(Collector):
    """Values read for this scrape, as gauge families."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def add(self, name: str, help_text: str, value: float) -> None:
        self.families.append(GaugeMetricFamily(name, help_text, value=value))

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[METRICS],
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, resources: ResourcesDep, runtime: RuntimeDep) -> Response:
    """Prometheus text: tasks (durations by task and state, retries, dead letters), outbound requests (by site
    and status class, 429s, challenges, quota stops), queue depth, delayed tasks, live workers, catalogue size,
    open task event streams. Names and meanings: docs/operations.md."""
    gauges = DeploymentGauges()
    cache = catalogue_counts(request.app)
    counts = await cache.current(resources)
    for key, (name, help_text) in CATALOGUE_GAUGES.items():
        gauges.add(name, help_text, counts[key])
    gauges.add(
        "cratedigger_catalogue_counted_timestamp_seconds",
        "When the catalogue gauges were counted (Unix time).",
        cache.counted_at or 0,
    )
    gauges.add(
        "cratedigger_task_event_streams",
        "Task event streams (GET /tasks/{id}/events) this API process is serving.",
        open_streams(request.app).count,
    )
    if runtime.workers is not None:
        depth = await runtime.workers.queue_depth()
        for key, (name, help_text) in QUEUE_GAUGES.items():
            gauges.add(name, help_text, depth[key])
        alive = len(await runtime.workers.seen_workers())
        gauges.add("cratedigger_workers_alive", "Worker processes that reported in the last 30 s.", alive)
    return Response(exposition(gauges), media_type=CONTENT_TYPE_PLAIN_0_0_4)
