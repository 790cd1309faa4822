"""Prometheus metrics of what the processes do: tasks, outbound requests, challenges and quota stops.

Counted where they happen (the lifecycle middleware, `app.sources.http`, the Spotify client, the collection
service) in whichever process runs them. Several processes, one /metrics: with PROMETHEUS_MULTIPROC_DIR
set, each process (every uvicorn and taskiq worker process of the host) writes its values to files there,
named by host and pid, and /metrics sums them (prometheus-client's multiprocess mode). Without it, /metrics
shows the process that answers, which is the whole story in embedded mode. Gauges of the deployment (queue,
workers, catalogue) are read when /metrics is scraped: `app.api.metrics_routes`.

Every metric here has labels, so no value exists before `configure_metrics` chose where values live.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.config import Settings

# Tasks last from a tenth of a second (a one-page collection) to their time budget (an hour of enrichment).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

TASK_DURATION = Histogram(
    "cratedigger_task_duration_seconds",
    "Time one attempt of a task ran, by task and the state it left the task in "
    "(success, cancelled, retrying, failure).",
    ["task", "state"],
    buckets=DURATION_BUCKETS,
)
TASK_RETRIES = Counter(
    "cratedigger_task_retries", "Attempts that failed transiently and were retried later.", ["task"]
)
TASK_DEAD_LETTERS = Counter(
    "cratedigger_task_dead_letters", "Tasks that failed for good and were dead-lettered.", ["task"]
)
OUTBOUND_REQUESTS = Counter(
    "cratedigger_outbound_requests",
    "Requests sent to outside sites, by site and status class (2xx…5xx, or error: no answer).",
    ["site", "status_class"],
)
OUTBOUND_RATE_LIMITED = Counter(
    "cratedigger_outbound_rate_limited", "Answers of HTTP 429 (rate limited) from outside sites.", ["site"]
)
CHALLENGES = Counter(
    "cratedigger_challenges", "Pages answered with a bot challenge after the fetch's own tries.", ["site"]
)
QUOTA_STOPS = Counter(
    "cratedigger_quota_stops",
    "Quota stops: the site's quota is spent (or its Retry-After too long) and requests pause until then.",
    ["site"],
)


def status_class(status: int | None) -> str:
    return "error" if status is None else f"{status // 100}xx"


def record_answer(site: str, status: int | None) -> None:
    """One request to `site`; `status` None when no answer came (timeout, refused connection)."""
    OUTBOUND_REQUESTS.labels(site=site, status_class=status_class(status)).inc()
    if status == 429:
        OUTBOUND_RATE_LIMITED.labels(site=site).inc()


def _process_identity() -> str:
    """Distinct for every process writing to a shared directory, across containers too (their pids repeat)."""
    return f"{socket.gethostname()}-{os.getpid()}".replace("_", "-")


_shared_directory: list[Path] = []  # set by configure_metrics: where this process's values live


def configure_metrics(settings: Settings) -> None:
    """Write values to PROMETHEUS_MULTIPROC_DIR when it is set (before any value exists in this process)."""
    directory = settings.prometheus_multiproc_dir
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    _shared_directory[:] = [directory]
    # prometheus-client reads the directory from the environment; `.env` alone would not put it there.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identity)  # type: ignore[no-untyped-call]


def exposition(deployment: Collector) -> bytes:
    """The Prometheus text of every process (or this one) followed by the deployment's gauges."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(deployment)
    if not _shared_directory:
        return generate_latest(REGISTRY) + generate_latest(registry)
    MultiProcessCollector(registry, path=str(_shared_directory[0]))  # type: ignore[no-untyped-call]
    return generate_latest(registry)
