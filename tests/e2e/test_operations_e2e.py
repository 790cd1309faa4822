"""Operating it, through the real processes: logs that hold no secret, a trace from the API into the worker,
and `cratedigger health` as compose's healthchecks call it."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.auth import ADMIN_KEY
from tests.e2e import api
from tests.e2e.conftest import deployment
from tests.e2e.processes import BIN, PrivateRedis, start_scheduler, wait_for_state, wait_until
from tests.fakes.beatport_api import FakeBeatportApi
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fakes.spotify import FakeSpotify
from tests.fixtures.beatport import GENRE_TOP100_HTML, GENRE_TOP100_PATH, load_text

pytestmark = pytest.mark.e2e

SECRETS = {
    "SECRET_KEY": "e2e-sealing-secret-3f9c1a",
    "API_ADMIN_KEY": ADMIN_KEY,
    "BEATPORT_PASSWORD": "beatport-password-77ad",
    "SPOTIFY_CLIENT_SECRET": "spotify-secret-51be",
    "REDIS_PASSWORD": "redis-password-c0ffee",
    "POSTGRES_PASSWORD": "postgres-password-a11ce",
}
SPOTIFY_ID = "e2e-ops-client"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path / "redis", persistent=False, password=SECRETS["REDIS_PASSWORD"])
    redis.directory.mkdir()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def test_logs_of_a_run_hold_no_configured_secret(tmp_path: Path, private_redis: PrivateRedis) -> None:
    """Every secret in use (the API key in requests, the Beatport login, Spotify's client credentials, the
    Redis and PostgreSQL passwords in their URLs, SECRET_KEY sealing the Beatport token), at DEBUG level."""
    with (
        FakeHTTPServer() as site,
        FakeBeatportApi(password=SECRETS["BEATPORT_PASSWORD"]) as beatport_api,
        FakeSpotify(client_id=SPOTIFY_ID, client_secret=SECRETS["SPOTIFY_CLIENT_SECRET"]) as spotify,
    ):
        settings = {
            "LOG_LEVEL": "DEBUG",
            "SECRET_KEY": SECRETS["SECRET_KEY"],
            "API_ADMIN_KEY": SECRETS["API_ADMIN_KEY"],
            "BEATPORT_SOURCE": "api",
            "BEATPORT_API_URL": beatport_api.api_url,
            "BEATPORT_USERNAME": beatport_api.username,
            "BEATPORT_PASSWORD": SECRETS["BEATPORT_PASSWORD"],
            "BEATPORT_API_REQUESTS_PER_SECOND": "50",
            "SPOTIFY_CLIENT_ID": SPOTIFY_ID,
            "SPOTIFY_CLIENT_SECRET": SECRETS["SPOTIFY_CLIENT_SECRET"],
            "SPOTIFY_API_URL": spotify.api_url,
            "SPOTIFY_AUTH_URL": spotify.auth_url,
            "SPOTIFY_REQUESTS_PER_SECOND": "200",
        }
        with deployment(
            tmp_path,
            site,
            redis_url=private_redis.url,
            settings=settings,
            database_password=SECRETS["POSTGRES_PASSWORD"],
        ) as d:
            collect = api.post(
                f"{d.base}/collect/beatport/collect", json={"genre": 11}, headers={"X-Request-ID": "ops-1"}
            )
            assert collect.status_code == 202, collect.text
            done = wait_for_state(d.base, collect.json()["task_id"], {"success", "failure"}, timeout=90)
            assert done["state"] == "success", f"{done}\n{d.logs()}"
            enrich = api.post(f"{d.base}/collect/spotify/enrich", json={"only_missing": True, "limit": 5})
            assert enrich.status_code == 202, enrich.text
            done = wait_for_state(d.base, enrich.json()["task_id"], {"success", "failure"}, timeout=90)
            assert done["state"] == "success", f"{done}\n{d.logs()}"
            assert (
                api.get(f"{d.base}/tracks", headers={"Authorization": "Bearer wrong-key"}).status_code == 401
            )
            assert api.get(f"{d.base}/metrics").status_code == 200
            logs = {p.name: p.log() for p in [d.api, *d.workers]}
        token_requests = spotify.server.requests_to(urlsplit(spotify.auth_url).path, "POST")
        assert beatport_api.logins >= 1 and token_requests  # the secrets were really used
    basic = base64.b64encode(f"{SPOTIFY_ID}:{SECRETS['SPOTIFY_CLIENT_SECRET']}".encode()).decode()
    for name, text in logs.items():
        assert len(text.splitlines()) > 20, f"{name} logged almost nothing:\n{text}"
        for secret in [*SECRETS.values(), basic]:
            assert secret not in text, f"{name} logged a secret ({secret[:6]}…)"
    # JSON lines (REDIS_URL is set), with the task's ids on the worker's lines and the request's id on both.
    worker_lines = [json.loads(line) for line in logs["worker1"].splitlines() if line.startswith("{")]
    collected = [line for line in worker_lines if line.get("task_name") == "collect_bp_tracks"]
    assert collected and all(line["request_id"] == "ops-1" for line in collected), collected[:3]
    assert {"task_id", "attempt"} <= collected[0].keys()
    assert any(line.startswith("{") and '"request_id": "ops-1"' in line for line in logs["api"].splitlines())


def _spans(collector: FakeHTTPServer) -> list[dict[str, Any]]:
    """Every span the collector received, with its process (`cratedigger.process`) and ids in hex."""
    spans = []
    for request in collector.requests_to("/v1/traces", "POST"):
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans.append(
                        {
                            "process": attributes.get("cratedigger.process"),
                            "service": attributes.get("service.name"),
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value.string_value for a in span.attributes},
                        }
                    )
    return spans


def test_a_trace_follows_a_request_into_the_worker_process(tmp_path: Path) -> None:
    with FakeHTTPServer() as collector, FakeHTTPServer() as site:
        collector.add("POST", "/v1/traces", FakeResponse(headers={"Content-Type": "application/x-protobuf"}))
        site.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML)))
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with deployment(tmp_path, site, settings=tracing) as d:
            response = api.post(f"{d.base}/collect/beatport/collect", json={"genre": 11})
            task_id = response.json()["task_id"]
            assert wait_for_state(d.base, task_id, {"success", "failure"})["state"] == "success"
            wait_until(
                lambda: any(s["name"] == "execute/collect_bp_tracks" for s in _spans(collector)),
                what="the worker's span to be exported",
            )
    spans = _spans(collector)
    send = next(s for s in spans if s["name"] == "send/collect_bp_tracks")
    execute = next(s for s in spans if s["name"] == "execute/collect_bp_tracks")
    server = next(s for s in spans if s["name"] == "POST /collect/beatport/collect")
    assert (server["process"], send["process"], execute["process"]) == ("api", "api", "worker"), spans
    assert server["trace_id"] == send["trace_id"] == execute["trace_id"]
    assert execute["parent_span_id"] == send["span_id"]  # carried in the task message's labels
    assert send["attributes"]["messaging.message.id"] == task_id
    assert {s["service"] for s in spans} == {"cratedigger"}


def _health(env: dict[str, str], process: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cratedigger"), "health", process],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_health_command_checks_each_process_of_this_host(tmp_path: Path) -> None:
    with FakeHTTPServer() as site, deployment(tmp_path, site) as d:
        env = {**d.env, "CRATEDIGGER_URL": d.base}
        assert _health(env, "api").returncode == 0
        worker = _health(env, "worker")
        assert worker.returncode == 0 and "2 of 2 worker heartbeat(s)" in worker.stdout, worker.stdout
        more = _health({**env, "WORKER_PROCESSES": "3"}, "worker")
        assert more.returncode == 1 and "2 of 3" in more.stdout, more.stdout
        assert _health(env, "scheduler").returncode == 1  # none started yet
        scheduler = start_scheduler(env, tmp_path)
        try:
            wait_until(lambda: _health(env, "scheduler").returncode == 0, what="the scheduler's heartbeat")
        finally:
            scheduler.stop()
    down = {**env, "CRATEDIGGER_URL": d.base}
    assert _health(down, "api").returncode == 1  # the api is gone
