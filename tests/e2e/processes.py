"""Start the service's real processes (the contract's commands) as subprocesses for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.auth import ADMIN_KEY
from tests.e2e import api

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Install:
    """Where the service's commands come from: a virtualenv's bin directory and the directory they run in
    (this checkout and the test venv, or the image-contents test's copy of what the Dockerfile copies)."""

    bin: Path = BIN
    root: Path = PROJECT_ROOT


HERE = Install()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPOTIFY_", "REDIS_", "DATABASE_", "BEATPORT_", "SECRET_", "API_"))
    }
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("SECRET_KEY", "e2e-secret-key-not-for-production")
    env.setdefault("API_ADMIN_KEY", ADMIN_KEY)
    return env


class ServiceProcess:
    """One subprocess with its output captured to a log file (printed when a test fails)."""

    def __init__(
        self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, *, cwd: Path = PROJECT_ROOT
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        if not self._log.closed:  # still readable after stop()
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()


def run_migrations(env: Mapping[str, str], install: Install = HERE) -> None:
    subprocess.run(
        [str(install.bin / "alembic"), "upgrade", "head"],
        cwd=install.root,
        env=dict(env),
        check=True,
        capture_output=True,
    )


def start_api(env: Mapping[str, str], log_dir: Path, install: Install = HERE) -> tuple[ServiceProcess, str]:
    port = free_port()
    process = ServiceProcess(
        "api",
        [str(install.bin / "uvicorn"), "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_dir,
        cwd=install.root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"api exited early:\n{process.log()}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"api did not start:\n{process.log()}")


def worker_argv(env: Mapping[str, str], install: Install = HERE) -> list[str]:
    """The contract's worker command (docs/design.md), with the process and task counts from `env`."""
    processes, concurrency = env.get("WORKER_PROCESSES", "2"), env.get("WORKER_CONCURRENCY", "10")
    return [
        *(str(install.bin / "taskiq"), "worker", "app.worker:broker"),
        *("--workers", processes, "--max-async-tasks", concurrency, "--no-configure-logging"),
    ]


def start_worker(
    env: Mapping[str, str],
    log_dir: Path,
    name: str = "worker",
    *,
    wait_listening: bool = True,
    install: Install = HERE,
) -> ServiceProcess:
    """Start `taskiq worker`; unless told not to (a test starting it during an outage), return once it listens."""
    argv = worker_argv(env, install)
    worker = ServiceProcess(name, argv, env, log_dir, cwd=install.root)
    if not wait_listening:
        return worker
    # `taskiq worker` starts several processes; return once every one of them listens, so tests don't race a
    # process that is still importing the app on a loaded machine.
    expected = int(argv[argv.index("--workers") + 1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            log = worker.log()
            worker.stop()
            raise RuntimeError(f"worker exited early:\n{log}")
        if worker.log().count("Listening started") >= expected:
            return worker
        time.sleep(0.2)
    log = worker.log()
    worker.stop()  # never leave a half-started worker running behind a failed test
    raise RuntimeError(f"worker processes did not all start within 60 s:\n{log}")


def wait_for_state(base: str, task_id: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"{base}/tasks/status/{task_id}", timeout=5)
        if response.status_code == 200:
            last = response.json()
            if last["state"] in states:
                return last
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never reached {states}; last status: {last}")


def start_scheduler(
    env: Mapping[str, str], log_dir: Path, name: str = "scheduler", install: Install = HERE
) -> ServiceProcess:
    """The contract's scheduler command; returns once it started (or exited, e.g. on invalid settings)."""
    scheduler = ServiceProcess(
        name,
        [str(install.bin / "taskiq"), "scheduler", "app.scheduler:scheduler", "--no-configure-logging"],
        env,
        log_dir,
        cwd=install.root,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if scheduler.proc.poll() is not None or "Starting scheduler" in scheduler.log():
            return scheduler
        time.sleep(0.1)
    return scheduler


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 30) -> None:
    """Poll `condition` (a cheap check of something outside this process) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


CATALOG_TABLES = (
    "tracks",
    "artists",
    "labels",
    "releases",
    "genres",
    "track_artists",
    "chart_snapshots",
    "chart_entries",
)


def row_counts(database_url: str, tables: Sequence[str] = CATALOG_TABLES) -> dict[str, int]:
    """Rows per table, read straight from PostgreSQL (not through the API under test)."""

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
        finally:
            await conn.close()

    return asyncio.run(read())


class PrivateRedis:
    """A redis-server of the test's own, on its own port: stopped, restarted or emptied without touching anyone
    else's. `persistent`: append-only like production, so a restart keeps the data; else a restart empties it."""

    def __init__(self, directory: Path, *, persistent: bool, password: str | None = None) -> None:
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self.password = password  # `requirepass`, as compose runs Redis
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        )
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence]
        if self.password:
            argv += ["--requirepass", self.password]
        self.process = subprocess.Popen([*argv, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, what="redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: with persistence, redis fsyncs the append-only file before it exits."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
