"""docker-compose.yml is valid compose and runs exactly the contract's commands (docs/design.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _contract_commands() -> dict[str, str]:
    """The process table of docs/design.md: name → command."""
    table = re.findall(
        r"^\| (\w+)(?: \([^)]*\))? \| `([^`]+)`", (ROOT / "docs" / "design.md").read_text(), re.MULTILINE
    )
    return dict(table)


SECRETS = {
    "SECRET_KEY": "compose-test-secret-key",
    "REDIS_PASSWORD": "redis-pw",
    "POSTGRES_PASSWORD": "pg-pw",
}


def _compose_config(secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` in a copy of the project's compose set-up, with `.env` made from `.env.example`
    and `secrets` filled in, as a person deploying it would."""
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail("docker-compose is not installed: scripts/ensure-services.sh installs Debian's package")
    project = Path(tempfile.mkdtemp(prefix="compose-"))
    shutil.copy(ROOT / "docker-compose.yml", project / "docker-compose.yml")
    lines = (ROOT / ".env.example").read_text().splitlines()
    filled = [
        f"{line}{secrets[line[:-1]]}" if line.endswith("=") and line[:-1] in secrets else line
        for line in lines
    ]
    (project / ".env").write_text("\n".join(filled) + "\n")
    try:
        return subprocess.run(
            [
                docker_compose,
                "-f",
                str(project / "docker-compose.yml"),
                "--project-directory",
                str(project),
                "config",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        shutil.rmtree(project)


def _resolved_compose() -> dict[str, Any]:
    """`docker-compose config` validates against the compose schema and resolves anchors and variables."""
    result = _compose_config(SECRETS)
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


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    result = _compose_config({k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0 and missing in result.stderr


def test_compose_takes_every_setting_and_secret_from_env_and_writes_no_password() -> None:
    services = _resolved_compose()["services"]
    for name in ("api", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert env["SECRET_KEY"] == SECRETS["SECRET_KEY"]
        assert env["REDIS_URL"] == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
        assert f":{SECRETS['POSTGRES_PASSWORD']}@postgres:" in env["DATABASE_URL"]
        assert env["BEATPORT_REQUESTS_PER_SECOND"] == "1.0" and "BEATPORT_USERNAME" in env  # from .env
    assert services["scheduler"]["environment"]["SCHEDULE_BEATPORT_CRON"] == "0 6 * * *"
    assert SECRETS["REDIS_PASSWORD"] in _command(services["redis"])  # requirepass
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    text = (ROOT / "docker-compose.yml").read_text()
    literal = re.compile(r"^\s*[A-Z_]*(PASSWORD|SECRET_KEY|AUTH):\s*(?!\$\{)\S", re.MULTILINE)
    assert literal.search(text) is None  # every secret is a ${VARIABLE}
    assert "cratedigger:cratedigger@" not in text
    # .env.example lists every setting there is.
    listed = {
        line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line
    }
    settings = {name.upper() for name in Settings.model_fields}
    assert (
        settings
        - {
            "DATABASE_URL",
            "REDIS_URL",
            "BEATPORT_BASE_URL",
            "BEATPORT_API_URL",
            "SPOTIFY_API_URL",
            "SPOTIFY_AUTH_URL",
            "BEATPORT_USER_AGENT",
            "BEATPORT_HEADERS",
        }
        <= listed
    )
