"""Per-task cost of the task runtime against bare taskiq, side by side in one run on a private Redis.

Bare taskiq is what a competent developer starts with: `RedisStreamBroker` + `RedisAsyncResultBackend` (JSON),
the same no-op task, the same worker concurrency. Both workers run in this process through taskiq's own
`Receiver`, so the figures compare the brokers and middleware, not process start-up.

- drain: N tasks enqueued first, then one worker drains them; tasks/s until every message is acknowledged.
- pickup: one task at a time into an idle worker; time from the message's hand-over to Redis (the broker's
  `kick`) to the task body starting (p50).
- round trips: requests the worker's Redis connections send during the drain (a pipeline is one), per task.

Prints last: `drain_per_s=… bare_drain_per_s=… drain_ratio=… pickup_p50_ms=… bare_pickup_p50_ms=…
round_trips_per_task=… bare_round_trips_per_task=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from taskiq import AsyncBroker, BrokerMessage
from taskiq.receiver import Receiver
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from app.config import Settings
from app.runtime import build_runtime
from app.runtime.build import CONSUMER_GROUP, QUEUE_NAME
from app.runtime.redis_connection import connect_redis
from tests.e2e.processes import free_port

CONCURRENCY = 10  # the project's WORKER_CONCURRENCY default; --concurrency to change (both sides)


class CountingConnection(Connection):
    """Counts requests sent: one per command, one per pipeline."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


@dataclass
class Side:
    name: str
    broker: AsyncBroker
    queue: str
    group: str
    started: list[float]
    enqueue: Callable[[], Awaitable[None]]
    kicked: list[float] = field(default_factory=list)
    running: tuple[asyncio.Task[None], asyncio.Event] | None = None


def _start_redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server") or "redis-server"
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL)


def _bare_side(url: str) -> Side:
    backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        url, serializer=JSONSerializer(), connection_class=CountingConnection
    )
    broker = RedisStreamBroker(
        url, queue_name="bare", consumer_group_name="bare", connection_class=CountingConnection
    ).with_result_backend(backend)
    started: list[float] = []

    @broker.task(task_name="noop")
    async def noop() -> None:
        started.append(time.perf_counter())

    async def enqueue() -> None:
        await noop.kiq()

    return _timing_kicks(Side("bare", broker, "bare", "bare", started, enqueue))


def _runtime_side(url: str, tmp: str) -> Side:
    settings = Settings(
        _env_file=None,
        redis_url=url,
        database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
        worker_concurrency=CONCURRENCY,
    )
    runtime = build_runtime(settings, redis=connect_redis(url, connection_class=CountingConnection))
    started: list[float] = []

    @runtime.broker.task(task_name="noop")
    async def noop() -> None:
        started.append(time.perf_counter())

    async def enqueue() -> None:
        await noop.kiq()

    return _timing_kicks(Side("runtime", runtime.broker, QUEUE_NAME, CONSUMER_GROUP, started, enqueue))


def _timing_kicks(side: Side) -> Side:
    """Pickup is timed from the moment a message is handed to Redis (the broker's `kick`), so the producer's
    own bookkeeping before it (our queued status) is not counted as pickup."""
    kick = side.broker.kick

    async def timed_kick(message: BrokerMessage) -> None:
        side.kicked.append(time.perf_counter())
        await kick(message)

    side.broker.kick = timed_kick  # type: ignore[method-assign]
    return side


async def _settled(probe: Redis, side: Side) -> bool:
    for group in await probe.xinfo_groups(side.queue):
        if group["name"].decode() == side.group:
            return int(group["pending"]) == 0 and int(group.get("lag") or 0) == 0
    return False


async def _run_worker(side: Side) -> tuple[asyncio.Task[None], asyncio.Event]:
    side.broker.is_worker_process = True
    receiver = Receiver(side.broker, max_async_tasks=CONCURRENCY, run_startup=False)
    finish = asyncio.Event()
    return asyncio.create_task(receiver.listen(finish)), finish


async def _drain(side: Side, probe: Redis, tasks: int) -> tuple[float, float]:
    """Tasks/s and worker round trips per task; the worker starts after everything is enqueued."""
    for _ in range(tasks):
        await side.enqueue()
    CountingConnection.sent = 0
    began = time.perf_counter()
    worker, finish = await _run_worker(side)
    side.running = (worker, finish)
    while not await _settled(probe, side):  # noqa: ASYNC110  (polling Redis, not our own state)
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - began
    return tasks / elapsed, CountingConnection.sent / tasks


async def _pickup(side: Side, probe: Redis, *, samples: int) -> float:
    delays: list[float] = []
    for _ in range(samples):
        before = len(side.started)
        await side.enqueue()
        while len(side.started) == before:  # noqa: ASYNC110  (the body appends; yield until it has)
            await asyncio.sleep(0)
        delays.append(side.started[-1] - side.kicked[-1])
        while not await _settled(probe, side):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    return statistics.median(delays) * 1000 if delays else 0.0


async def _measure(side: Side, probe: Redis, *, tasks: int, samples: int) -> tuple[float, float, float]:
    await side.broker.startup()
    drain_per_s, round_trips = await _drain(side, probe, tasks)
    pickup_ms = await _pickup(side, probe, samples=samples)
    assert side.running is not None
    worker, finish = side.running
    finish.set()
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await side.broker.shutdown()
    return drain_per_s, pickup_ms, round_trips


async def main(tasks: int, samples: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = _start_redis(port, tmp)
        url = f"redis://127.0.0.1:{port}/0"
        probe = Redis.from_url(url)
        try:
            for _ in range(200):
                try:
                    await probe.ping()
                    break
                except (OSError, RedisConnectionError):
                    await asyncio.sleep(0.05)
            results: dict[str, list[tuple[float, float, float]]] = {"runtime": [], "bare": []}
            for round_number in range(rounds):
                for side in (_runtime_side(url, tmp), _bare_side(url)):  # alternate, same Redis
                    await probe.flushdb()
                    figures = await _measure(side, probe, tasks=tasks, samples=samples)
                    results[side.name].append(figures)
                    print(
                        f"round {round_number + 1} {side.name:7s} drain {figures[0]:7.0f}/s "
                        f"pickup p50 {figures[1]:.2f} ms round trips/task {figures[2]:.2f}"
                    )
        finally:
            await probe.aclose()
            server.kill()
            server.wait()
    ours = [statistics.median(v) for v in zip(*results["runtime"], strict=True)]
    bare = [statistics.median(v) for v in zip(*results["bare"], strict=True)]
    print(
        f"drain_per_s={ours[0]:.0f} bare_drain_per_s={bare[0]:.0f} drain_ratio={ours[0] / bare[0]:.2f} "
        f"pickup_p50_ms={ours[1]:.2f} bare_pickup_p50_ms={bare[1]:.2f} pickup_ratio={ours[1] / bare[1]:.2f} "
        f"round_trips_per_task={ours[2]:.2f} bare_round_trips_per_task={bare[2]:.2f}"
    )


def cli() -> None:
    global CONCURRENCY
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=3000, help="tasks per drain")
    parser.add_argument("--samples", type=int, default=200, help="pickup samples per side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="tasks at once, both workers")
    args = parser.parse_args()
    CONCURRENCY = args.concurrency
    asyncio.run(main(args.tasks, args.samples, args.rounds))


if __name__ == "__main__":
    cli()
