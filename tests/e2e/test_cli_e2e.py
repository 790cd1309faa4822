"""The `cratedigger` CLI as a real subprocess against the real processes (uvicorn, taskiq worker, Redis,
PostgreSQL, loopback Beatport)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.auth import ADMIN_KEY
from tests.e2e import api
from tests.e2e.conftest import Deployed
from tests.e2e.processes import BIN, service_env
from tests.fixtures.beatport import GENRE_TOP100_PATH

pytestmark = pytest.mark.e2e


def cli(deployed: Deployed, cwd: Path, *args: str, key: str = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    env = service_env(CRATEDIGGER_URL=deployed.base, CRATEDIGGER_API_KEY=key, COLUMNS="200")
    return subprocess.run(
        [str(BIN / "cratedigger"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_collect_wait_then_query_and_export(deployed: Deployed, tmp_path: Path) -> None:
    collected = cli(deployed, tmp_path, "collect", f"https://www.beatport.com{GENRE_TOP100_PATH}", "--wait")
    assert collected.returncode == 0, collected.stderr
    assert "100 tracks collected" in collected.stdout

    exported = cli(deployed, tmp_path, "tracks", "--bpm-min", "120", "--format", "csv", "--output", "f.csv")
    assert exported.returncode == 0, exported.stderr
    from_api = api.get(f"{deployed.base}/tracks", params={"bpm_min": 120, "format": "csv"}, timeout=30)
    written = (tmp_path / "f.csv").read_bytes()
    assert written == from_api.content
    rows = list(csv.DictReader(io.StringIO(written.decode())))
    assert 0 < len(rows) <= 100 and all(int(row["bpm"]) >= 120 for row in rows)

    listed = cli(deployed, tmp_path, "tracks", "--bpm-min", "120", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count('"id":') >= len(rows)


def test_errors_exit_with_the_apis_message(deployed: Deployed, tmp_path: Path) -> None:
    unknown = cli(deployed, tmp_path, "status", "0123456789abcdef0123456789abcdef")
    assert (
        unknown.returncode == 1 and "No task with id" in unknown.stderr and "Traceback" not in unknown.stderr
    )
    wrong_key = cli(deployed, tmp_path, "tracks", key="cd_wrong")
    assert wrong_key.returncode == 1 and "401" in wrong_key.stderr
    unsupported = cli(deployed, tmp_path, "collect", "https://www.beatport.com/cart")
    assert unsupported.returncode == 2 and "422" in unsupported.stderr
    assert "Traceback" not in unsupported.stderr + wrong_key.stderr


def test_watchlists_from_the_terminal(deployed: Deployed, tmp_path: Path) -> None:
    made = cli(deployed, tmp_path, "watchlists", "add", "Tech house", GENRE_TOP100_PATH, "--json")
    assert made.returncode == 0, made.stderr
    watchlist = json.loads(made.stdout)
    assert watchlist["feed_url"] and watchlist["webhook_secret"] is None

    first = cli(deployed, tmp_path, "watchlists", "run", str(watchlist["id"]), "--wait")
    assert first.returncode == 0, first.stderr
    assert "100 new tracks from 1 target(s)" in first.stdout
    again = cli(deployed, tmp_path, "watchlists", "run", str(watchlist["id"]), "--wait")
    assert again.returncode == 0 and "0 new tracks" in again.stdout, again.stderr

    new = cli(deployed, tmp_path, "watchlists", "tracks", str(watchlist["id"]), "--json")
    from_api = api.get(f"{deployed.base}/watchlists/{watchlist['id']}/tracks", timeout=30).json()
    assert new.returncode == 0 and json.loads(new.stdout) == from_api and from_api["total"] == 100

    listed = cli(deployed, tmp_path, "watchlists", "list")
    assert listed.returncode == 0 and "Tech house" in listed.stdout and ": 0 new" in listed.stdout

    feed = cli(deployed, tmp_path, "watchlists", "feed", str(watchlist["id"]), "--yes")
    assert feed.returncode == 0 and feed.stdout.strip() != watchlist["feed_url"]
    assert httpx.get(watchlist["feed_url"], timeout=10).status_code == 404
    assert httpx.get(feed.stdout.strip(), timeout=10).status_code == 200

    removed = cli(deployed, tmp_path, "watchlists", "rm", str(watchlist["id"]))
    gone = cli(deployed, tmp_path, "watchlists", "run", str(watchlist["id"]))
    assert removed.returncode == 0 and gone.returncode == 1 and "No watchlist with id" in gone.stderr
