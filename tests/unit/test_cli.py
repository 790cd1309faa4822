"""The CLI's argument parsing and output, with typer's test runner against a loopback fake of the API (the
real HTTP client runs; only the far end is canned)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.commands import app
from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse

TASK = "0123456789abcdef0123456789abcdef"


def status(state: str, **more: Any) -> dict[str, Any]:
    return {
        "task_id": TASK, "task_name": "collect_bp_tracks", "state": state, "progress": None, "result": None,
        "error": None, "attempt": 1, "enqueued_at": "2026-12-01T10:00:00Z", "started_at": None, "finished_at": None,
        **more,
    }  # fmt: skip


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_collect_sends_the_url_and_prints_the_task_id(fake_api: FakeHTTPServer) -> None:
    fake_api.add(
        "POST", "/collect/beatport/collect", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202)
    )
    result = run("collect", "https://www.beatport.com/genre/tech-house/11/top-100", "--max-pages", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(TASK)
    (sent,) = fake_api.requests_to("/collect/beatport/collect", "POST")
    assert sent.json() == {"url": "https://www.beatport.com/genre/tech-house/11/top-100", "max_pages": 2}
    assert sent.headers["authorization"] == "Bearer cd_test"


def test_collect_needs_exactly_one_target() -> None:
    assert run("collect").exit_code == 2
    assert run("collect", "/top-100", "--genre", "x").exit_code == 2


def test_wait_follows_the_task_and_exits_by_its_end(fake_api: FakeHTTPServer) -> None:
    fake_api.add(
        "POST", "/collect/beatport/collect", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202)
    )
    done = status(
        "success",
        result={"target": "/top-100", "tracks_seen": 100, "tracks_created": 100, "pages_fetched": 1},
    )
    events = "".join(
        f"event: status\ndata: {json.dumps(s)}\n\n"
        for s in (
            status("queued"),
            status("running", progress={"done": 40, "total": 100, "message": "p"}),
            done,
        )
    )
    fake_api.add(
        "GET", f"/tasks/{TASK}/events",
        FakeResponse(body=(": keep-alive\n\n" + events).encode(), headers={"Content-Type": "text/event-stream"}),
    )  # fmt: skip
    result = run("collect", "--genre", "tech-house", "--wait")
    assert result.exit_code == 0, result.output
    assert "100 tracks collected from /top-100 (100 new" in result.stdout

    failed = status(
        "failure", error={"type": "PermanentSourceError", "message": "Beatport has nothing there"}
    )
    fake_api.add(
        "GET", f"/tasks/{TASK}/events",
        FakeResponse(body=f"event: status\ndata: {json.dumps(failed)}\n\n".encode(), headers={"Content-Type": "text/event-stream"}),
    )  # fmt: skip
    result = run("collect", "--genre", "tech-house", "--wait")
    assert result.exit_code == 1 and "Beatport has nothing there" in result.output


def test_wait_polls_when_the_api_has_no_event_stream(fake_api: FakeHTTPServer) -> None:
    fake_api.add(
        "POST", "/collect/spotify/enrich", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202)
    )
    fake_api.add("GET", f"/tasks/{TASK}/events", FakeResponse.json({"detail": "Not Found"}, 404))
    fake_api.add(
        "GET", f"/tasks/status/{TASK}",
        FakeResponse.json(status("running")),
        FakeResponse.json(status("success", result={"tracks_considered": 3, "matched_isrc": 2, "unmatched": 1})),
    )  # fmt: skip
    result = run("enrich", "--limit", "3", "--wait")
    assert result.exit_code == 0, result.output
    assert "3 tracks checked on Spotify: 2 matched by ISRC, 0 by search, 1 not found" in result.stdout
    (sent,) = fake_api.requests_to("/collect/spotify/enrich", "POST")
    assert sent.json() == {"only_missing": True, "force": False, "limit": 3}


@pytest.mark.parametrize(
    ("code", "detail", "exit_code"),
    [
        (401, "Unknown or revoked API key.", 1),
        (403, "The key 'r' has the read scope; this needs write.", 1),
        (422, [{"loc": ["body", "url"], "msg": "not a Beatport page", "type": "value_error"}], 2),
        (503, "The database is unavailable", 1),
    ],
)
def test_api_errors_print_the_apis_message_and_exit_1_or_2(
    fake_api: FakeHTTPServer, code: int, detail: Any, exit_code: int
) -> None:
    fake_api.add("POST", "/collect/beatport/collect", FakeResponse.json({"detail": detail}, code))
    result = run("collect", "/nowhere")
    assert result.exit_code == exit_code
    assert f"HTTP {code}" in result.output and "Traceback" not in result.output
    assert (detail if isinstance(detail, str) else "url: not a Beatport page") in result.output


def test_no_api_answering_is_said_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRATEDIGGER_URL", "http://127.0.0.1:9")
    result = run("status", TASK)
    assert result.exit_code == 1 and "no answer from http://127.0.0.1:9" in result.output


def test_a_read_over_the_keys_request_rate_waits_and_asks_again(fake_api: FakeHTTPServer) -> None:
    slow_down = {"detail": "The key 'cli' made more than 600 requests this minute"}
    fake_api.add(
        "GET", f"/tasks/status/{TASK}",
        FakeResponse.json(slow_down, 429, headers={"Retry-After": "0"}),
        FakeResponse.json(status("running")),
    )  # fmt: skip
    result = run("status", TASK)
    assert result.exit_code == 0, result.output
    assert len(fake_api.requests_to(f"/tasks/status/{TASK}")) == 2

    fake_api.add(
        "POST", "/collect/beatport/collect", FakeResponse.json(slow_down, 429, headers={"Retry-After": "0"})
    )
    refused = run("collect", "/top-100")  # a write is not repeated: the user decides
    assert refused.exit_code == 1 and "600 requests this minute" in refused.stderr
    assert len(fake_api.requests_to("/collect/beatport/collect", "POST")) == 1


def test_tracks_renders_a_table_pages_with_all_and_prints_json(fake_api: FakeHTTPServer) -> None:
    def track(i: int) -> dict[str, Any]:
        return {"id": i, "name": f"Track {i}", "mix_name": "Extended Mix", "artists": [{"id": 1, "name": "Ada"}],
                "bpm": 124, "camelot": "8A", "label": {"id": 2, "name": "Lbl"}, "publish_date": "2026-01-01",
                "enriched": i % 2 == 0}  # fmt: skip

    def paged(request: FakeRequest) -> FakeResponse:
        second = request.query.get("cursor") == ["c2"]
        items = [track(3)] if second else [track(1), track(2)]
        return FakeResponse.json({"items": items, "paging": {"next_cursor": None if second else "c2"}})

    fake_api.add("GET", "/tracks", paged)
    result = run("tracks", "--bpm-min", "120", "--genre", "tech-house", "--enriched")
    assert result.exit_code == 0, result.output
    assert "Track 1" in result.stdout and "Extended" in result.stdout and "Track 3" not in result.stdout
    first = fake_api.requests_to("/tracks")[0]
    assert first.query["bpm_min"] == ["120"] and first.query["enriched"] == ["true"]
    every = run("tracks", "--all", "--json")
    assert [t["id"] for t in json.loads(every.stdout)] == [1, 2, 3]


def test_tracks_csv_streams_the_apis_export_to_a_file(fake_api: FakeHTTPServer, tmp_path: Path) -> None:
    body = "id,name\r\n1,A\r\n2,B\r\n"
    fake_api.add("GET", "/tracks", FakeResponse(body=body.encode(), headers={"Content-Type": "text/csv"}))
    result = run("tracks", "--label", "Lbl", "--format", "csv", "--output", str(tmp_path / "t.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.csv").read_bytes() == body.encode()
    assert fake_api.requests_to("/tracks")[0].query == {
        "label": ["Lbl"],
        "sort": ["id"],
        "order": ["asc"],
        "format": ["csv"],
    }


def test_every_command_has_help_with_an_example() -> None:
    commands = [["collect"], ["enrich"], ["status"], ["tasks"], ["cancel"], ["tracks"], ["charts"], ["movers"],
                ["dead-letters", "list"], ["dead-letters", "retry"], ["match", "set"], ["match", "clear"],
                ["schedules", "list"], ["schedules", "add"], ["schedules", "rm"], ["keys", "create"],
                ["watchlists", "list"], ["watchlists", "add"], ["watchlists", "rm"], ["watchlists", "run"],
                ["watchlists", "tracks"], ["watchlists", "feed"],
                ["keys", "list"], ["keys", "revoke"], ["serve"], ["migrate"], ["spotify", "connect"],
                ["spotify", "status"], ["spotify", "disconnect"], ["playlists", "sync"]]  # fmt: skip
    for command in commands:
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Example" in result.output, command


WATCHLIST = {
    "id": 3, "name": "Drumcode", "targets": ["/label/drumcode/1/tracks"], "cron": "0 7 * * 1", "timezone": "UTC",
    "max_pages": None, "webhook_url": "https://example.com/hook", "webhook_secret": "s3cret",
    "feed_url": "http://127.0.0.1:8000/feeds/watchlists/3.atom?token=abc", "next_run_at": "2026-12-07T07:00:00Z",
    "last_run": None, "created_at": "2026-12-01T10:00:00Z",
}  # fmt: skip


def test_watchlists_add_sends_targets_and_shows_the_feed_and_secret_once(fake_api: FakeHTTPServer) -> None:
    fake_api.add("POST", "/watchlists", FakeResponse.json(WATCHLIST, 201))
    result = run(
        "watchlists", "add", "Drumcode", "/label/drumcode/1/tracks", "/chart/x/9",
        "--cron", "0 7 * * 1", "--webhook-url", "https://example.com/hook", "--sync",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (sent,) = fake_api.requests_to("/watchlists", "POST")
    assert sent.json() == {
        "name": "Drumcode", "targets": ["/label/drumcode/1/tracks", "/chart/x/9"], "cron": "0 7 * * 1",
        "timezone": "UTC", "webhook_url": "https://example.com/hook",
        "sync": {"playlist_id": None, "name": "Drumcode"},
    }  # fmt: skip
    assert WATCHLIST["feed_url"] in result.stdout and "s3cret" in result.stdout


def test_watchlists_run_wait_summarizes_the_new_tracks(fake_api: FakeHTTPServer) -> None:
    fake_api.add("POST", "/watchlists/3/run", FakeResponse.json({"task_id": TASK, "status_url": "/x"}, 202))
    done = status(
        "success",
        task_name="run_watchlist",
        result={"new_tracks": 4, "targets": [{}], "failed_targets": [], "webhook_task_id": "f" * 32},
    )
    fake_api.add(
        "GET", f"/tasks/{TASK}/events",
        FakeResponse(body=f"event: status\ndata: {json.dumps(done)}\n\n".encode(),
                     headers={"Content-Type": "text/event-stream"}),
    )  # fmt: skip
    result = run("watchlists", "run", "3", "--wait")
    assert result.exit_code == 0, result.output
    assert "4 new tracks from 1 target(s); webhook sent by task " + "f" * 32 in result.stdout


def test_watchlists_feed_asks_before_replacing_the_url(fake_api: FakeHTTPServer) -> None:
    fake_api.add("POST", "/watchlists/3/feed-token", FakeResponse.json(WATCHLIST))
    declined = CliRunner().invoke(app, ["watchlists", "feed", "3"], input="n\n")
    assert declined.exit_code == 1 and fake_api.requests_to("/watchlists/3/feed-token", "POST") == []
    made = run("watchlists", "feed", "3", "--yes")
    assert made.exit_code == 0 and made.stdout.strip() == WATCHLIST["feed_url"]
