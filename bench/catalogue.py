"""Benchmark: the catalogue's read side at a million tracks on PostgreSQL, ours against the code before it.

    uv run python bench/catalogue.py [--tracks 1000000] [--rounds 30] [--baseline-rev d795503]

One run, one fresh PostgreSQL database (created here and dropped at the end, like tests/pg.py):
1. Migrated to the revision before the catalogue indexes (the schema the baseline code knew), then loaded with
   N tracks (bench/catalogue_data.py: a plausible catalogue with its NULLs and ties) through the project's
   store path, `store_tracks`, 1,000 tracks per transaction; Spotify fields for 68% of them set by one UPDATE
   (the enrichment path is another benchmark); 30 genre charts × 52 weekly snapshots of 100 through
   `record_chart_entries`. Then `refresh_statistics`, what a collection run ends with, vacuums and analyzes
   what changed.
2. Baseline: the API of `--baseline-rev` (the code before issue 14: `git archive` of app/ into a temporary
   folder, run by the same uvicorn and interpreter) on that database, fewer rounds (its queries are slow).
3. `alembic upgrade head` on the loaded database (the catalogue indexes and pg_trgm; timed), then our API.
Each API is `uvicorn app.main:app` in its own process with API_ADMIN_KEY set; requests carry the key and go
one at a time from this process over loopback HTTP (latency = the client's wall time per request). Every case
runs once per round, rounds in turn after one untimed round, so a change in the machine's load touches all.
- sorts: page 1 (50 tracks) of each sort in both orders; filters: page 1 of each documented filter;
- deep cursor pages: `next_cursor` tokens for positions at 25/50/75/99.5% of each sort and order;
- one track: GET /tracks/{id} of random tracks;
- movers: GET /charts/{chart_key}/movers of a chart with 52 weekly snapshots (ours only: the baseline has no
  charts endpoints);
- CSV: the whole catalogue with format=csv (the baseline: its first `--baseline-csv-rows` rows), rows/s, time
  to the first byte, the API process's RSS sampled every 50 ms (VmRSS) and its peak (VmHWM).
`--database-url URL` measures a catalogue loaded by an earlier run's step 1 and kept (more rounds, no reload):
it is upgraded to head, then only our API is measured. The store path's rate with the new indexes: `--extra` more tracks stored just before the upgrade and as many
just after it, so our figures are for N + 2 × extra tracks (1,040,000 by default).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from app.cli import PROJECT_ROOT, migrate
from app.db.catalog import record_chart_entries, store_tracks
from app.db.session import create_engine, create_sessionmaker
from app.db.statistics import refresh_statistics
from app.db.track_paging import SORT_FIELDS, CursorPosition, TrackSort
from app.db.track_tables import TRACKS
from bench.catalogue_data import SPOTIFY_FIELDS_SQL, catalogue_batches, weekly_charts
from tests.auth import ADMIN_HEADERS
from tests.e2e.processes import ServiceProcess, free_port, service_env
from tests.pg import PG_ADMIN_URL, scratch_database

CATALOGUE_REVISION = "7a3f9c2d4e18"  # alembic/versions/…_catalogue_indexes.py
MOVERS_CHART_KEY = "genre-top-100-11"  # bench/catalogue_data.py: 52 weekly snapshots


# ---- the database ---------------------------------------------------------------------------------------------


def previous_revision() -> str:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    down = ScriptDirectory.from_config(config).get_revision(CATALOGUE_REVISION).down_revision
    assert isinstance(down, str)
    return down


def migrate_to(url: str, revision: str) -> None:
    from alembic import command

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes.update({"configure_logger": False, "database_url": url})
    command.upgrade(config, revision)


async def load(url: str, batches: Iterator[list[Any]], count: int) -> float:
    """Store `count` batches through the store path, one transaction each; tracks/s."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    stored, started = 0, time.perf_counter()
    for number in range(count):
        batch = next(batches)
        async with sessions.begin() as session:
            await store_tracks(session, tracks=batch)
        stored += len(batch)
        if (number + 1) % 100 == 0:
            print(f"  stored {number + 1:,} batches", flush=True)
    await engine.dispose()
    return stored / (time.perf_counter() - started)


async def enrich_and_chart(url: str) -> list[str]:
    """Spotify fields, weekly chart snapshots, then the statistics refresh; returns the tables analyzed."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        await session.execute(text(SPOTIFY_FIELDS_SQL))
        track_ids = list((await session.execute(text("SELECT id FROM tracks"))).scalars())
    start = time.time() - 52 * 7 * 86400
    for chart_key, week, entries in weekly_charts(track_ids, charts=30, weeks=52):
        async with sessions.begin() as session:
            await record_chart_entries(
                session,
                chart_key=chart_key,
                title=chart_key,
                path=f"/genre/_/{chart_key.rsplit('-', 1)[1]}/top-100",
                task_id=f"week-{week}",
                entries=entries,
                now=_utc(start + week * 7 * 86400),
            )
    analyzed = await refresh_statistics(sessions)
    await engine.dispose()
    return analyzed


def _utc(timestamp: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


async def sample_values(url: str) -> dict[str, Any]:
    """Values the cases ask for, taken from the data: a label, an artist, an ISRC, tracks, cursor positions."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        one = (
            await conn.execute(
                text(
                    "SELECT t.label_id, l.name, t.isrc, ta.artist_id, a.name FROM tracks t JOIN labels l ON "
                    "l.id = t.label_id JOIN track_artists ta ON ta.track_id = t.id JOIN artists a ON "
                    "a.id = ta.artist_id WHERE t.isrc IS NOT NULL ORDER BY t.id LIMIT 1 OFFSET 4321"
                )
            )
        ).one()
        ids = list(
            (await conn.execute(text("SELECT id FROM tracks TABLESAMPLE SYSTEM (1) LIMIT 200"))).scalars()
        )
        total = int((await conn.execute(text("SELECT count(*) FROM tracks"))).scalar_one())
        cursors = []
        for field in SORT_FIELDS:
            for order in ("asc", "desc"):
                sort = TrackSort(field=field, order=order)
                for share in (0.25, 0.5, 0.75, 0.995):
                    stmt = (
                        select(TRACKS.c[field], TRACKS.c.id)
                        .order_by(*sort.order_by())
                        .offset(int(total * share))
                        .limit(1)
                    )
                    value, track_id = (await conn.execute(stmt)).one()
                    cursors.append((field, order, CursorPosition(field, order, value, track_id).encode()))
    await engine.dispose()
    label_word = one[1].split()[0].lower()  # its own name, without "Records" or "Music"
    return {
        "label_id": one[0],
        "label_word": label_word,
        "isrc": one[2],
        "artist_id": one[3],
        "artist_name": one[4].lower(),
        "ids": ids,
        "cursors": cursors,
    }


# ---- the cases ------------------------------------------------------------------------------------------------


def cases(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for field in SORT_FIELDS:
        for order in ("asc", "desc"):
            found[f"sort {field} {order}"] = {"sort": field, "order": order}
    filters: dict[str, dict[str, Any]] = {
        "genre id": {"genre": "11"},
        "genre slug": {"genre": "deep-house"},
        "label id": {"label": values["label_id"]},
        "label name": {"label": values["label_word"]},
        "artist id": {"artist": values["artist_id"]},
        "artist name": {"artist": values["artist_name"]},
        "artist 2 letters (worst)": {"artist": "ka"},
        "bpm range": {"bpm_min": 128, "bpm_max": 130},
        "key camelot": {"key": "8A"},
        "key name": {"key": "F Major"},
        "isrc": {"isrc": values["isrc"]},
        "enriched": {"enriched": "true"},
        "not enriched": {"enriched": "false"},
        "published month": {"published_from": "2026-07-01", "published_to": "2026-07-31"},
        "match_method search": {"match_method": "search"},
        "match_method none": {"match_method": "none"},
        "match_method manual": {"match_method": "manual"},
        "match_score_lt 0.6": {"match_score_lt": 0.6},
        "review: search < 0.7 by bpm": {"match_method": "search", "match_score_lt": 0.7, "sort": "bpm"},
        "review: search < 0.6, newest first": {
            "match_method": "search",
            "match_score_lt": 0.6,
            "sort": "publish_date",
            "order": "desc",
        },
        "review: score < 0.8 (the dashboard's)": {"match_score_lt": 0.8},
        "genre + newest first": {"genre": "11", "sort": "publish_date", "order": "desc"},
        "offset page 100": {"page": 100},
    }
    found.update({f"filter {name}": params for name, params in filters.items()})
    return found


def time_cases(client: httpx.Client, named: dict[str, dict[str, Any]], rounds: int) -> dict[str, list[float]]:
    """Milliseconds per request of each case; a case the API refuses as unknown (422 in the untimed round: the
    baseline has no match review filters) is left out."""
    timings: dict[str, list[float]] = {name: [] for name in named}
    for round_number in range(rounds + 1):  # the first round warms up, untimed
        for name, params in named.items():
            if name not in timings:
                continue
            started = time.perf_counter()
            response = client.get("/tracks", params={"page_size": 50, **params})
            elapsed = (time.perf_counter() - started) * 1000
            if round_number == 0 and response.status_code == 422:
                del timings[name]
                continue
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            if round_number:
                timings[name].append(elapsed)
    return timings


def time_cursors(client: httpx.Client, values: dict[str, Any], rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        for field, order, cursor in values["cursors"]:
            started = time.perf_counter()
            response = client.get("/tracks", params={"sort": field, "order": order, "cursor": cursor})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text[:300]
    return timings


def time_details(client: httpx.Client, values: dict[str, Any], rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        for track_id in random.Random(1).sample(values["ids"], min(30, len(values["ids"]))):
            started = time.perf_counter()
            response = client.get(f"/tracks/{track_id}")
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text[:300]
    return timings


def time_movers(client: httpx.Client, rounds: int) -> list[float]:
    """The last two snapshots' movers, through the API (one untimed call first, as for every case)."""
    timings = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        response = client.get(f"/charts/{MOVERS_CHART_KEY}/movers")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
        assert response.json()["new"] or response.json()["up"], "no movement between the last two weeks"
    return timings[1:]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def export_csv(client: httpx.Client, pid: int, max_rows: int | None) -> dict[str, float]:
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_kb(pid))
            time.sleep(0.05)

    before = rss_kb(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows, first_byte = -1, 0.0  # the header is not a row
    started = time.perf_counter()
    with client.stream("GET", "/tracks", params={"format": "csv"}) as response:
        assert response.status_code == 200, response.read()[:300]
        for chunk in response.iter_raw(1 << 20):
            if not first_byte:
                first_byte = time.perf_counter() - started
            rows += chunk.count(b"\n")
            if max_rows is not None and rows >= max_rows:
                break
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "first_byte_s": first_byte,
        "rss_before_mb": before / 1024,
        "rss_max_mb": max(samples) / 1024,
        "rss_peak_mb": rss_kb(pid, "VmHWM") / 1024,
    }


# ---- the APIs -------------------------------------------------------------------------------------------------


@contextmanager
def running_api(url: str, *, code_dir: Path, log_dir: Path, name: str) -> Iterator[tuple[httpx.Client, int]]:
    port = free_port()
    env = service_env(DATABASE_URL=url)
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    process = ServiceProcess(
        name,
        [uvicorn, "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_dir,
        cwd=code_dir,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ADMIN_HEADERS, timeout=900)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.proc.poll() is None and time.monotonic() < deadline, process.log()
            try:
                if client.get("/health").status_code in (200, 503):
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield client, process.proc.pid
    finally:
        client.close()
        process.stop()


def baseline_code(revision: str, into: Path) -> Path:
    """The app package of `revision`, unpacked into `into` (uvicorn imports `app` from its working folder)."""
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", revision, "app"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(
    client: httpx.Client, pid: int, values: dict[str, Any], rounds: int, csv_rows: int | None
) -> dict[str, Any]:
    print(f"  {rounds} rounds of {len(cases(values))} list cases ...", flush=True)
    result: dict[str, Any] = {"cases": time_cases(client, cases(values), rounds)}
    print("  deep cursors, one track ...", flush=True)
    result["cursor"] = time_cursors(client, values, max(1, rounds // 5))
    result["detail"] = time_details(client, values, max(1, rounds // 5))
    print("  CSV ...", flush=True)
    result["csv"] = export_csv(client, pid, csv_rows)
    return result


# ---- figures --------------------------------------------------------------------------------------------------


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(ours: dict[str, Any], base: dict[str, Any] | None) -> dict[str, float]:
    print(f"\n{'case':40s} {'p50 ms':>8s} {'p95 ms':>8s} {'base p50':>9s} {'ratio':>7s}")
    worst = {"sorts": 0.0, "filters": 0.0}
    ratios = []
    for name, timings in ours["cases"].items():
        p50, p95 = p(timings, 0.5), p(timings, 0.95)
        kind = "sorts" if name.startswith("sort") else "filters"
        if "worst" not in name and "offset" not in name:
            worst[kind] = max(worst[kind], p95)
        line = f"{name:40s} {p50:8.1f} {p95:8.1f}"
        if base is not None and name in base["cases"]:
            base_p50 = p(base["cases"][name], 0.5)
            ratios.append(base_p50 / p50)
            line += f" {base_p50:9.1f} {base_p50 / p50:7.1f}"
        print(line)
    for name in ("cursor", "detail"):
        line = f"{name:40s} {p(ours[name], 0.5):8.1f} {p(ours[name], 0.95):8.1f}"
        if base is not None:
            line += f" {p(base[name], 0.5):9.1f} {p(base[name], 0.5) / p(ours[name], 0.5):7.1f}"
        print(line)
    print(
        f"{'movers (GET /charts/…/movers)':40s} {p(ours['movers'], 0.5):8.1f} {p(ours['movers'], 0.95):8.1f}"
    )
    csv = ours["csv"]
    print(f"\nCSV ours: {csv}")
    if base is not None:
        print(f"CSV baseline: {base['csv']}")
    figures = {
        "sorts_p95_max_ms": worst["sorts"],
        "filters_p95_max_ms": worst["filters"],
        "cursor_p95_ms": p(ours["cursor"], 0.95),
        "detail_p95_ms": p(ours["detail"], 0.95),
        "movers_p95_ms": p(ours["movers"], 0.95),
        "csv_rows_per_s": csv["rows_per_s"],
        "csv_first_byte_s": csv["first_byte_s"],
        "api_rss_before_mb": csv["rss_before_mb"],
        "api_rss_peak_mb": csv["rss_peak_mb"],
    }
    if base is not None:
        figures["baseline_p50_ratio_median"] = statistics.median(ratios)
        figures["baseline_csv_rows_per_s"] = base["csv"]["rows_per_s"]
        figures["csv_ratio"] = csv["rows_per_s"] / base["csv"]["rows_per_s"]
    return figures


def measure_only(url: str, rounds: int) -> None:
    migrate(url)
    values = asyncio.run(sample_values(url))
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_api(url, code_dir=PROJECT_ROOT, log_dir=Path(tmp), name="ours") as (client, pid),
    ):
        ours = measure(client, pid, values, rounds, None)
        ours["movers"] = time_movers(client, rounds)
    figures = report(ours, None)
    print(" ".join(f"{k}={v:.1f}" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds of our cases (30)")
    parser.add_argument("--baseline-rounds", type=int, default=5)
    parser.add_argument("--baseline-rev", default="d795503", help="the code before issue 14; 'none' to skip")
    parser.add_argument("--baseline-csv-rows", type=int, default=100_000)
    parser.add_argument(
        "--extra",
        type=int,
        default=20_000,
        help="tracks stored just before and just after the upgrade (rate)",
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument(
        "--database-url",
        help="only measure (no load, baseline or store rate): a catalogue loaded as step 1 does, kept by you; "
        "upgraded to head first",
    )
    args = parser.parse_args()
    if args.database_url:
        measure_only(args.database_url, args.rounds)
        return
    batches = catalogue_batches(args.tracks + 2 * args.extra)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}",
        flush=True,
    )
    with (
        scratch_database(prefix="cd_bench_catalogue", admin_url=args.pg_admin_url, migrated=False) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        migrate_to(url, previous_revision())
        started = time.perf_counter()
        asyncio.run(load(url, batches, args.tracks // 1000))
        load_s = time.perf_counter() - started
        print(f"loaded {args.tracks:,} tracks in {load_s:.0f} s", flush=True)
        analyzed = asyncio.run(enrich_and_chart(url))
        print(f"Spotify fields, 30 charts × 52 weeks; vacuumed, analyzed: {', '.join(analyzed)}", flush=True)
        values = asyncio.run(sample_values(url))
        base = None
        if args.baseline_rev != "none":
            print(f"baseline {args.baseline_rev} ...", flush=True)
            code = baseline_code(args.baseline_rev, Path(tmp) / "baseline")
            with running_api(url, code_dir=code, log_dir=Path(tmp), name="baseline") as (client, pid):
                probe = client.get("/tracks", params={"page_size": 1}).json()["paging"]
                assert "total_exact" not in probe, "the baseline API runs our code"
                base = measure(client, pid, values, args.baseline_rounds, args.baseline_csv_rows)
        extra = max(1, args.extra // 1000)
        rate_before = asyncio.run(load(url, batches, extra))
        started = time.perf_counter()
        migrate(url)
        migration_s = time.perf_counter() - started
        rate_after = asyncio.run(load(url, batches, extra))
        print(f"upgraded to head in {migration_s:.1f} s", flush=True)
        with running_api(url, code_dir=PROJECT_ROOT, log_dir=Path(tmp), name="ours") as (client, pid):
            ours = measure(client, pid, values, args.rounds, None)
            ours["movers"] = time_movers(client, args.rounds)
        figures = report(ours, base)
    figures = {
        "tracks": args.tracks,
        "load_s": load_s,
        "migration_s": migration_s,
        "store_tracks_per_s_before": rate_before,
        "store_tracks_per_s_after": rate_after,
        **figures,
    }
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
