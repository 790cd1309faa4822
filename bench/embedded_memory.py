"""Memory of the embedded mode (`cratedigger serve`: SQLite, in-process tasks) over many collections.

Runs the real app in this process (its lifespan, the in-process broker, a fresh SQLite file) and POSTs
`--tasks` collections of distinct track pages, answered by a small site on loopback served from another process
(so its own bookkeeping is not counted here). Statuses are kept as by default (TASK_RESULT_TTL_SECONDS is a
week), so what bounds memory is the store's maximum (10,000 statuses, oldest first). Prints VmRSS after each
tenth of the run and last `rss_mb_start=… rss_mb_after_N=… … growth_second_half_mb=… statuses_kept=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.fixtures` lives beside `app`

from tests.e2e.processes import free_port
from tests.fixtures.beatport import TRACK_HTML, load_text

if TYPE_CHECKING:
    from app.runtime.task_status import StatusStore


def _serve(port: int, page: bytes) -> None:
    class AnyTrack(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            return None

    ThreadingHTTPServer(("127.0.0.1", port), AnyTrack).serve_forever()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _all_finished(statuses: StatusStore, task_ids: list[str]) -> bool:
    for task_id in task_ids:
        status = await statuses.get(task_id)
        if status is None or status.finished_at is None:
            return False
    return True


async def run(tasks: int, batch: int, database_url: str, site: str) -> dict[str, float]:
    from app.config import Settings
    from app.main import create_app

    settings = Settings(
        _env_file=None, database_url=database_url, beatport_base_url=site, beatport_requests_per_second=1000
    )
    app = create_app(settings)
    figures: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        statuses = app.state.runtime.statuses
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cratedigger.test") as client:
            figures["rss_mb_start"] = rss_mb()
            for start in range(0, tasks, batch):
                ids = []
                for n in range(start, min(start + batch, tasks)):
                    response = await client.post(
                        "/collect/beatport/collect", json={"url": f"/track/t/{n + 1}"}
                    )
                    assert response.status_code == 202, response.text
                    ids.append(response.json()["task_id"])
                while not await _all_finished(statuses, ids):  # noqa: ASYNC110  (polling the store)
                    await asyncio.sleep(0.01)
                done = start + len(ids)
                if done % (tasks // 10) == 0:
                    gc.collect()
                    figures[f"rss_mb_after_{done}"] = rss_mb()
                    print(
                        f"{done:>6} collections: VmRSS {figures[f'rss_mb_after_{done}']:.1f} MB", flush=True
                    )
            figures["statuses_kept"] = len(statuses)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=_serve, args=(port, load_text(TRACK_HTML).encode()), daemon=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            os.environ.pop("REDIS_URL", None)  # embedded mode: before `app` is imported
            database_url = f"sqlite+aiosqlite:///{workdir}/embedded.db"
            from app.cli import migrate

            migrate(database_url)  # as `cratedigger serve` does, before its event loop starts
            figures = asyncio.run(run(args.tasks, args.batch, database_url, f"http://127.0.0.1:{port}"))
    finally:
        server.terminate()
    half, full = f"rss_mb_after_{args.tasks // 2}", f"rss_mb_after_{args.tasks}"
    figures["growth_second_half_mb"] = figures[full] - figures[half]
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
