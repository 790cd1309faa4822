"""Debian's `promtool check metrics` (package prometheus, installed by scripts/ensure-services.sh)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def check_metrics(text: str) -> None:
    """Fail the test unless promtool accepts `text` as Prometheus exposition without lint problems."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is not installed: scripts/ensure-services.sh installs Debian's prometheus package"
        )
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False, timeout=30
    )
    assert checked.returncode == 0, f"promtool: {checked.stdout}{checked.stderr}\n---\n{text}"
