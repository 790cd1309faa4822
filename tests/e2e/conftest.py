from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from tests.conftest import fresh_pg_database, fresh_redis_url
from tests.e2e.processes import ServiceProcess, run_migrations, service_env, start_api, start_worker
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import GENRE_TOP100_HTML, GENRE_TOP100_PATH, load_text


@dataclass
class Deployed:
    base: str
    api: ServiceProcess
    _worker: ServiceProcess | None
    database_url: str
    redis_url: str
    env: dict[str, str]
    log_dir: Path
    workers: list[ServiceProcess] = field(default_factory=list)

    @property
    def worker(self) -> ServiceProcess:
        """The most recently started worker."""
        assert self.workers, "no worker started"
        return self.workers[-1]

    def start_worker(self, *, wait_listening: bool = True) -> ServiceProcess:
        name = f"worker{len(self.workers) + 1}"
        process = start_worker(self.env, self.log_dir, name=name, wait_listening=wait_listening)
        self.workers.append(process)
        return process

    def logs(self) -> str:
        parts = [f"--- {w.name} log ---\n{w.log()}" for w in self.workers]
        return "\n".join([*parts, f"--- api log ---\n{self.api.log()}"])


@pytest.fixture(scope="module")
def fake_beatport() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as server:
        server.add("GET", GENRE_TOP100_PATH, FakeResponse.html(load_text(GENRE_TOP100_HTML)))
        yield server


class HasURL(Protocol):
    @property
    def url(self) -> str: ...


@contextmanager
def deployment(
    log_dir: Path,
    fake_beatport: HasURL,
    *,
    with_worker: bool = True,
    redis_url: str | None = None,
    settings: Mapping[str, str] | None = None,
    database_password: str | None = None,
    **more_settings: str,
) -> Iterator[Deployed]:
    """migrate, api (uvicorn) and worker (taskiq worker): the contract's commands, real Redis and PostgreSQL.

    `with_worker=False` leaves starting workers to the test (`deployed.start_worker()`). `database_password`
    goes into DATABASE_URL as compose writes it (the test server trusts local connections and ignores it).
    """
    with fresh_pg_database() as database_url:
        if database_password is not None:
            database_url = database_url.replace("://postgres@", f"://postgres:{database_password}@", 1)
            assert database_password in database_url
        redis_url = redis_url or fresh_redis_url()
        env = service_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            BEATPORT_BASE_URL=fake_beatport.url,
            **{
                "BEATPORT_REQUESTS_PER_SECOND": "50",
                # As compose does: every process of the deployment writes its metrics where /metrics sums them.
                "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "metrics"),
                "METRICS_CATALOGUE_REFRESH_SECONDS": "1",
                **(settings or {}),
                **more_settings,
            },
        )
        run_migrations(env)
        api, base = start_api(env, log_dir)
        running = Deployed(base, api, None, database_url, redis_url, env, log_dir)
        try:
            if with_worker:
                running.start_worker()
            yield running
        finally:
            for process in running.workers:
                process.stop()
            api.stop()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, fake_beatport: FakeHTTPServer) -> Iterator[Deployed]:
    """One deployment shared by a test module (starting processes costs seconds)."""
    with deployment(tmp_path_factory.mktemp("deployed"), fake_beatport) as running:
        yield running
