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


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _contract_commands(settings: dict[str, str] | None = None) -> dict[str, str]:
    """The process table of docs/design.md: name → command, its `$SETTING`s filled in from `settings` (by
    default .env.example's values)."""
    table = re.findall(
        r"^\| (\w+)(?: \([^)]*\))? \| `([^`]+)`", (ROOT / "docs" / "design.md").read_text(), re.MULTILINE
    )
    values = settings if settings is not None else _env_example()
    return {name: re.sub(r"\$(\w+)", lambda m: values[m.group(1)], command) for name, command in table}


SECRETS = {
    "SECRET_KEY": "compose-test-secret-key",
    "REDIS_PASSWORD": "redis-pw",
    "POSTGRES_PASSWORD": "pg-pw",
}


def _compose_config(
    secrets: dict[str, str], changed: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` in a copy of the project's compose set-up, with `.env` made from `.env.example`
    and `secrets` filled in (and `changed` settings changed), as a person deploying it would."""
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
    filled += [f"{name}={value}" for name, value in (changed or {}).items()]
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


def _resolved_compose(changed: dict[str, str] | None = None) -> dict[str, Any]:
    """`docker-compose config` validates against the compose schema and resolves anchors and variables."""
    result = _compose_config(SECRETS, changed)
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


def test_worker_command_states_its_processes_and_concurrency_from_the_settings() -> None:
    changed = {"WORKER_CONCURRENCY": "7", "WORKER_PROCESSES": "3"}
    worker = _command(_resolved_compose(changed)["services"]["worker"])
    assert "--workers 3 --max-async-tasks 7" in worker
    assert worker == _contract_commands({**_env_example(), **changed})["worker"]
    default = _command(_resolved_compose()["services"]["worker"])
    assert f"--max-async-tasks {Settings.model_fields['worker_concurrency'].default}" in default
    assert f"--workers {Settings.model_fields['worker_processes'].default}" in default


def test_every_process_logs_through_the_app_and_has_a_healthcheck() -> None:
    services = _resolved_compose()["services"]
    for name in ("worker", "scheduler"):
        assert "--no-configure-logging" in _command(services[name])
    for name in ("api", "worker", "scheduler"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "cratedigger", "health", name]
    # api and worker processes write their metrics to one shared directory that /metrics sums.
    directory = services["api"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("api", "worker"):
        mounts = [
            v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services[name]["volumes"]
        ]
        assert any(m.startswith(f"metrics:{directory}") for m in mounts), mounts


def test_env_example_says_what_each_setting_does() -> None:
    """Every setting line follows a comment saying what it does (its default is the value it is given)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            above = lines[index - 1]
            assert above.startswith("# ") and not above.startswith("# ---"), f"{line}: no comment above it"
