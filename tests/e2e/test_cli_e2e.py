"""The `cratedigger` CLI as a real subprocess against the real processes (uvicorn, taskiq worker, Redis,
PostgreSQL, loopback Beatport)."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

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
