"""What the image holds is enough to run the service: a throwaway directory with exactly what the Dockerfile
COPYs, the Dockerfile's `uv sync` steps run there into a fresh virtualenv (offline, from uv's cache), then
migrate, api, worker and scheduler from that virtualenv and directory against Redis and PostgreSQL, collecting
one chart from the loopback Beatport fake. A runtime dependency left in the dev group, or a file the image
lacks, fails here. (There is no Docker engine here: `FROM`, `RUN pip install uv` and `USER` are the parts not
replayed; the host's uv and Python 3.11 stand in.)"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database, fresh_redis_url
from tests.e2e import api
from tests.e2e.processes import (
    PROJECT_ROOT,
    Install,
    run_migrations,
    service_env,
    start_api,
    start_scheduler,
    start_worker,
    wait_for_state,
    wait_until,
)
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_HTML, GENRE_TOP100_PATH, load_text

pytestmark = pytest.mark.e2e

WORKDIR = "/srv/cratedigger"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")  # .dockerignore's **/__pycache__


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (PROJECT_ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _copy(arguments: str, into: Path) -> None:
    """`COPY src… dest` relative to the WORKDIR: a destination ending in `/` is a directory that receives a
    file by its name (a directory source copies its contents, as Docker does)."""
    *sources, destination = shlex.split(arguments)
    target = into / destination.removeprefix(WORKDIR).lstrip("/").removeprefix("./")
    for source in sources:
        origin = PROJECT_ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=IGNORED, dirs_exist_ok=True)
        elif destination.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            shutil.copy2(origin, target)


def build_image_directory(root: Path) -> Install:
    """Replay the Dockerfile's COPY and `uv sync` steps into `root` (the WORKDIR) and `root/venv`."""
    venv = root.parent / "venv"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_OFFLINE": "1",  # everything comes from uv's cache, as the tests' own `uv sync` left it
        "UV_PYTHON": "3.11",
    }
    root.mkdir(parents=True)
    synced = 0
    for instruction, arguments in _instructions():
        if instruction == "COPY":
            _copy(arguments, root)
        elif instruction == "RUN" and arguments.startswith("uv sync"):
            done = subprocess.run(
                shlex.split(arguments), cwd=root, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{arguments}\n{done.stderr}"
            synced += 1
    assert synced == 2, "the Dockerfile's two `uv sync` steps were not found"
    return Install(bin=venv / "bin", root=root)


def _healthy(image: Install, env: dict[str, str], process: str) -> bool:
    checked = subprocess.run(
        [str(image.bin / "cratedigger"), "health", process], env=env, capture_output=True, check=False
    )
    return checked.returncode == 0


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    yield build_image_directory(tmp_path_factory.mktemp("image") / "srv")


def test_the_image_holds_what_the_dockerfile_copies_and_runtime_packages_only(image: Install) -> None:
    copied = sorted(p.name for p in image.root.iterdir())
    assert copied == ["README.md", "alembic", "alembic.ini", "app", "pyproject.toml", "uv.lock"]
    assert not (image.bin / "pytest").exists()  # no dev group
    # The image's Python runs the image's code (the project is installed from the copied directory).
    where = subprocess.run(
        [str(image.bin / "python"), "-c", "import app, opentelemetry.sdk.trace; print(app.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert where.stdout.strip() == str(image.root / "app" / "__init__.py")


def test_migrate_api_worker_and_scheduler_run_from_the_image(image: Install, tmp_path: Path) -> None:
    with FakeHTTPServer() as site, fresh_pg_database() as database_url:
        site.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML)))
        env = {
            **service_env(
                DATABASE_URL=database_url,
                REDIS_URL=fresh_redis_url(),
                BEATPORT_BASE_URL=site.url,
                BEATPORT_REQUESTS_PER_SECOND="50",
                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
            ),
            "PATH": f"{image.bin}:/usr/bin:/bin",
        }
        env.pop("VIRTUAL_ENV", None)
        run_migrations(env, image)
        api_process, base = start_api(env, tmp_path, image)
        worker = scheduler = None
        try:
            worker = start_worker(env, tmp_path, install=image)
            scheduler = start_scheduler(env, tmp_path, install=image)
            response = api.post(f"{base}/collect/beatport/collect", json={"genre": 11})
            assert response.status_code == 202, response.text
            done = wait_for_state(base, response.json()["task_id"], {"success", "failure"}, timeout=90)
            assert done["state"] == "success", f"{done}\n{worker.log()}"
            assert done["result"]["tracks_created"] == 100
            healthy = {**env, "CRATEDIGGER_URL": base}
            for name in ("api", "worker", "scheduler"):
                wait_until(
                    functools.partial(_healthy, image, healthy, name),
                    what=f"`cratedigger health {name}` from the image",
                )
        finally:
            for process in (scheduler, worker):
                if process is not None:
                    process.stop()
            api_process.stop()
