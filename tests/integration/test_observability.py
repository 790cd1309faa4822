"""Logs with request and task ids, the request id header, and /metrics (embedded mode: one process)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event

from app.config import Settings
from app.main import create_app
from app.observability.logs import JsonFormatter, StderrHandler, redactor
from app.services.resources import Resources
from tests.auth import admin_client
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_PATH
from tests.promtool import check_metrics


async def _finished(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await client.get(f"/tasks/status/{task_id}")).json()
        if status["state"] in {"success", "failure", "cancelled"}:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the JSON log formatter writes while the test runs (root at INFO, as the processes run)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(redactor([])))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_request_id_is_echoed_or_made_up(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "proxy-1234.abc"})
    assert given.headers["x-request-id"] == "proxy-1234.abc"
    made = await client.get("/health")
    assert len(made.headers["x-request-id"]) == 32
    unsafe = await client.get("/health", headers={"X-Request-ID": 'x" level="ERROR'})
    assert unsafe.headers["x-request-id"] != 'x" level="ERROR' and len(unsafe.headers["x-request-id"]) == 32
    refused = await client.get("/tracks", headers={"X-Request-ID": "r-422", "Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "r-422"


async def test_task_log_lines_carry_task_and_request_ids(
    client: httpx.AsyncClient, json_lines: io.StringIO
) -> None:
    response = await client.post(
        "/collect/beatport/collect", json={"genre": 11}, headers={"X-Request-ID": "req-collect-1"}
    )
    task_id = response.json()["task_id"]
    assert (await _finished(client, task_id))["state"] == "success"
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    ended = [line for line in lines if line.get("task_id") == task_id and "ended" in line["message"]]
    assert ended, lines
    assert ended[0]["task_name"] == "collect_bp_tracks" and ended[0]["attempt"] == 1
    assert ended[0]["request_id"] == "req-collect-1"
    assert {"time", "level", "logger", "message"} <= ended[0].keys()


async def test_metrics_count_tasks_and_outbound_requests_and_pass_promtool(
    client: httpx.AsyncClient,
) -> None:
    succeeded = _sample("cratedigger_task_duration_seconds_count", task="collect_bp_tracks", state="success")
    pages_ok = _sample("cratedigger_outbound_requests_total", site="beatport", status_class="2xx")
    response = await client.post("/collect/beatport/collect", json={"genre": 11})
    assert (await _finished(client, response.json()["task_id"]))["state"] == "success"
    text = (await client.get("/metrics")).text
    labels = 'state="success",task="collect_bp_tracks"'
    assert f"cratedigger_task_duration_seconds_count{{{labels}}} {succeeded + 1}" in text, text
    assert f'cratedigger_task_duration_seconds_bucket{{le="+Inf",{labels}}}' in text
    assert _sample("cratedigger_outbound_requests_total", site="beatport", status_class="2xx") == pages_ok + 1
    assert "cratedigger_tracks 100.0\n" in text
    check_metrics(text)


async def test_retries_rate_limits_and_dead_letters_are_counted(
    embedded_settings: Settings, fake_site: FakeHTTPServer
) -> None:
    # Rate-limited once (a transient failure: retried after the backoff), then gone (permanent: dead letter).
    fake_site.add(
        "GET",
        GENRE_TOP100_PATH,
        FakeResponse.html("busy", status=429),
        FakeResponse.html("gone", status=404),
    )
    settings = embedded_settings.model_copy(update={"beatport_fetch_attempts": 1})
    before = {
        "retries": _sample("cratedigger_task_retries_total", task="collect_bp_tracks"),
        "dead": _sample("cratedigger_task_dead_letters_total", task="collect_bp_tracks"),
        "429": _sample("cratedigger_outbound_rate_limited_total", site="beatport"),
        "retrying": _sample(
            "cratedigger_task_duration_seconds_count", task="collect_bp_tracks", state="retrying"
        ),
        "failure": _sample(
            "cratedigger_task_duration_seconds_count", task="collect_bp_tracks", state="failure"
        ),
    }
    app = create_app(settings)
    async with app.router.lifespan_context(app), admin_client(app) as client:
        response = await client.post("/collect/beatport/collect", json={"genre": 11})
        assert (await _finished(client, response.json()["task_id"]))["state"] == "failure"
        # The failure status is written first, then the dead letter and its count: wait for them, in the app's
        # lifetime (its shutdown would cancel the rest of the task's end).
        for _ in range(500):
            if _sample("cratedigger_task_dead_letters_total", task="collect_bp_tracks") > before["dead"]:
                break
            await asyncio.sleep(0.02)
    assert _sample("cratedigger_task_retries_total", task="collect_bp_tracks") == before["retries"] + 1
    assert _sample("cratedigger_task_dead_letters_total", task="collect_bp_tracks") == before["dead"] + 1
    assert _sample("cratedigger_outbound_rate_limited_total", site="beatport") == before["429"] + 1
    labels = {"task": "collect_bp_tracks"}
    assert (
        _sample("cratedigger_task_duration_seconds_count", **labels, state="retrying")
        == before["retrying"] + 1
    )
    assert (
        _sample("cratedigger_task_duration_seconds_count", **labels, state="failure") == before["failure"] + 1
    )


async def test_catalogue_counts_are_cached_between_scrapes(embedded_settings: Settings) -> None:
    app = create_app(embedded_settings.model_copy(update={"metrics_catalogue_refresh_seconds": 3600}))
    async with app.router.lifespan_context(app), admin_client(app) as client:
        resources: Resources = app.state.resources
        counts: list[str] = []

        def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "count(" in statement.lower():
                counts.append(statement)

        event.listen(resources.engine.sync_engine, "before_cursor_execute", note)
        try:
            for _ in range(3):
                assert (await client.get("/metrics")).status_code == 200
        finally:
            event.remove(resources.engine.sync_engine, "before_cursor_execute", note)
    assert len(counts) == 1, counts


def test_stderr_handler_follows_a_swapped_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, "to the current stderr", None, None))
    assert "to the current stderr" in capsys.readouterr().err
