"""docker-compose.yml is valid compose and runs exactly the contract's commands (docs/design.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _contract_commands() -> dict[str, str]:
    """The process table of docs/design.md: name → command."""
    table = re.findall(
        r"^\| (\w+)(?: \([^)]*\))? \| `([^`]+)`", (ROOT / "docs" / "design.md").read_text(), re.MULTILINE
    )
    return dict(table)


COMPOSE_TEST_SECRET = "compose-test-secret-key"


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail("docker-compose is not installed: scripts/ensure-services.sh installs Debian's package")
    return subprocess.run(
        [docker_compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def _resolved_compose() -> dict[str, Any]:
    """`docker-compose config` validates against the compose schema and resolves anchors and variables."""
    result = _compose_config({"SECRET_KEY": COMPOSE_TEST_SECRET})
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_file_is_valid_and_matches_the_contract() -> None:
    contract = _contract_commands()
    assert {"migrate", "api", "worker", "scheduler"} <= contract.keys()
    services = _resolved_compose()["services"]
    for name in ("migrate", "api", "worker", "scheduler"):
        assert _command(services[name]) == contract[name], name
    schedulers = [n for n, s in services.items() if "command" in s and "scheduler" in _command(s)]
    assert schedulers == ["scheduler"]  # exactly one scheduler process


def test_compose_wires_healthchecks_persistence_and_order() -> None:
    services = _resolved_compose()["services"]
    assert "--appendonly" in _command(services["redis"]) and "yes" in _command(services["redis"])
    assert "healthcheck" in services["redis"] and "healthcheck" in services["postgres"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        env = services[name]["environment"]
        assert env["REDIS_URL"].startswith("redis://") and env["DATABASE_URL"].startswith(
            "postgresql+asyncpg://"
        )
    # One image for every process.
    images = {services[n].get("image") for n in ("migrate", "api", "worker")}
    assert images == {"cratedigger:latest"}
    assert (ROOT / "Dockerfile").is_file()


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    result = _compose_config({})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
    services = _resolved_compose()["services"]
    for name in ("api", "worker", "scheduler"):
        assert services[name]["environment"]["SECRET_KEY"] == COMPOSE_TEST_SECRET
