"""Benchmark: parse and store the real Beatport Top 100 page, ours against a fair ORM baseline, on PostgreSQL.

    uv run python bench/collect.py [--rounds 20]

Pages: the real 2026-07 tech-house Top 100 page (~1 MB, 100 tracks). Each round gives each side a page of new
ids (every track, artist, release and label id shifted: `top100_with_ids_offset`), which inserts 100 tracks,
then a revisit of the same ids where every 3rd track's price changed and every 10th track (with two or more
artists) lists its artists in the other order: 36 tracks updated, 64 unchanged. Both sides get the same pages
with their own ids, interleaved page by page (ours insert, fair insert, ours revisit, fair revisit), after one
untimed warm-up round. Page texts are prepared before any timing. Everything is written into one fresh, migrated
PostgreSQL database, created here and dropped at the end; both sides must end with the same rows.

- ours: what CollectionService does with a fetched page: `parse_html` (str.find + json.loads) then one
  transaction with `store_tracks` (bulk idempotent upserts) and `record_chart_entries`.
- fair: what a competent developer writes first (bench/collect_fair.py): string search + json.loads, the same
  field mapping (`parse_track` and the track row), then the SQLAlchemy ORM with one `SELECT … IN` per entity
  type, loaded objects updated, `add_all` for new ones, one commit per page.

CPU: this process's `time.process_time()` around each page, and the PostgreSQL backend's utime + stime from
`/proc/<pid>/stat` (each side has an engine of exactly one connection; its backend is found with
`pg_backend_pid()`). PostgreSQL's background processes (WAL writer, checkpointer) are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.fakes` lives beside `app`

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.catalog import record_chart_entries, store_tracks
from app.db.collection_pages import StoredPage, record_stored_page
from app.db.session import create_sessionmaker
from app.db.upsert import UpsertCounts
from app.sources.beatport.entities import TargetKind
from app.sources.beatport.parsing import parse_html
from bench import collect_fair
from tests.fakes.beatport import ID_OFFSET_STEP, top100_with_ids_offset
from tests.fixtures.beatport import next_data_of, replace_next_data
from tests.pg import PG_ADMIN_URL, scratch_database

PAGE_PATH = "/genre/tech-house/11/top-100"
PAGE_URL = f"https://www.beatport.com{PAGE_PATH}"
CHART_KEY = "genre-top-100-11"
MAX_OFFSETS = 85  # top100_with_ids_offset keeps ids below 2**31 up to 84 * ID_OFFSET_STEP
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

StorePage = Callable[[async_sessionmaker[AsyncSession], str], Awaitable[UpsertCounts]]


# ---- the pages ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    html: str
    visit: str  # "insert" | "revisit"
    expected: UpsertCounts


def page_tracks(data: dict[str, Any]) -> list[dict[str, Any]]:
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if "top-100-tracks" in query["queryKey"][0]:
            tracks: list[dict[str, Any]] = query["state"]["data"]["results"]
            return tracks
    raise AssertionError("no Top 100 tracks query in the page")


def revise(tracks: list[dict[str, Any]]) -> int:
    """Change what a re-collection may see changed; returns how many tracks changed."""
    changed = 0
    for index, track in enumerate(tracks):
        touched = False
        if index % 3 == 0 and track.get("price"):
            track["price"]["value"] = round(track["price"]["value"] + 0.5, 2)
            touched = True
        if index % 10 == 0 and len(track["artists"]) > 1:
            track["artists"].reverse()
            touched = True
        changed += touched
    return changed


def page_pair(offset: int) -> tuple[Page, Page]:
    """A page of new ids, then the same ids with some tracks changed."""
    html = top100_with_ids_offset(offset)
    data = next_data_of(html)
    tracks = page_tracks(data)
    changed = revise(tracks)
    return (
        Page(html, "insert", UpsertCounts(created=len(tracks))),
        Page(
            replace_next_data(html, data),
            "revisit",
            UpsertCounts(updated=changed, unchanged=len(tracks) - changed),
        ),
    )


# ---- the two sides ------------------------------------------------------------------------------------------


async def ours(sessions: async_sessionmaker[AsyncSession], html: str) -> UpsertCounts:
    """One page as CollectionService stores it (minus the fetch), with the record that lets a retried run
    resume after it (a feature the fair version does not have, paid for here)."""
    parsed = parse_html(html, kind=TargetKind.GENRE_TOP100, url=PAGE_URL)
    assert parsed.positions is not None
    run_id = uuid.uuid4().hex
    async with sessions.begin() as session:
        counts = await store_tracks(session, tracks=parsed.tracks)
        snapshot_id = await record_chart_entries(
            session,
            chart_key=CHART_KEY,
            title=parsed.title,
            path=PAGE_PATH,
            task_id=run_id,
            entries=[(pos, t.id) for pos, t in zip(parsed.positions, parsed.tracks, strict=True)],
        )
        page = StoredPage(
            page=1,
            served_by="pages",
            tracks_seen=len(parsed.tracks),
            tracks_created=counts.tracks.created,
            tracks_updated=counts.tracks.updated,
            tracks_unchanged=counts.tracks.unchanged,
            chart_snapshot_id=snapshot_id,
        )
        await record_stored_page(session, run_id=run_id, target=PAGE_PATH, page=page)
    return counts.tracks


async def fair(sessions: async_sessionmaker[AsyncSession], html: str) -> UpsertCounts:
    return await collect_fair.store_page(sessions, html, chart_key=CHART_KEY, task_id=uuid.uuid4().hex)


# ---- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Totals:
    pages: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    pg_cpu_s: float = 0.0

    def per_page_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.pages

    @property
    def cpu_ms(self) -> float:
        return self.per_page_ms(self.cpu_s)

    @property
    def pg_cpu_ms(self) -> float:
        return self.per_page_ms(self.pg_cpu_s)

    @property
    def total_ms(self) -> float:
        return self.per_page_ms(self.cpu_s + self.pg_cpu_s)

    @property
    def wall_ms(self) -> float:
        return self.per_page_ms(self.wall_s)


@dataclass
class Side:
    name: str
    store: StorePage
    sessions: async_sessionmaker[AsyncSession]
    backend_pid: int
    by_visit: dict[str, Totals] = field(default_factory=dict)

    def total(self) -> Totals:
        parts = self.by_visit.values()
        return Totals(
            pages=sum(t.pages for t in parts),
            wall_s=sum(t.wall_s for t in parts),
            cpu_s=sum(t.cpu_s for t in parts),
            pg_cpu_s=sum(t.pg_cpu_s for t in parts),
        )


def backend_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, after the parenthesised name)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


async def backend_pid(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        pid: int = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return pid


async def store_timed(side: Side, page: Page, *, timed: bool) -> None:
    pg_before = backend_cpu_s(side.backend_pid)
    wall, cpu = time.perf_counter(), time.process_time()
    counts = await side.store(side.sessions, page.html)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pg_cpu = backend_cpu_s(side.backend_pid) - pg_before
    assert counts == page.expected, f"{side.name} {page.visit}: {counts}, expected {page.expected}"
    if timed:
        totals = side.by_visit.setdefault(page.visit, Totals())
        totals.pages += 1
        totals.wall_s += wall
        totals.cpu_s += cpu
        totals.pg_cpu_s += pg_cpu


async def run(database_url: str, rounds: list[tuple[tuple[Page, Page], tuple[Page, Page]]]) -> list[Side]:
    # One connection per side (the app's settings otherwise), so its backend is the only one doing its work.
    engines = [
        create_async_engine(database_url, pool_pre_ping=True, pool_size=1, max_overflow=0) for _ in range(2)
    ]
    try:
        sides = []
        for name, store, engine in (("ours", ours, engines[0]), ("fair", fair, engines[1])):
            sessions = create_sessionmaker(engine)
            sides.append(Side(name, store, sessions, await backend_pid(sessions)))
        for index, pairs in enumerate(rounds):
            for visit in (0, 1):  # insert pages, then revisits
                for side, pair in zip(sides, pairs, strict=True):
                    await store_timed(side, pair[visit], timed=index > 0)  # round 0 warms up
        for side in sides:
            assert await backend_pid(side.sessions) == side.backend_pid, f"{side.name} changed connection"
        fair_track_ids = {t["id"] for pairs in rounds for t in page_tracks(next_data_of(pairs[1][0].html))}
        await assert_same_rows(
            sides[0].sessions, fair_track_ids=fair_track_ids, id_shift=len(rounds) * ID_OFFSET_STEP
        )
    finally:
        for engine in engines:
            await engine.dispose()
    return sides


SHIFTED_IDS = frozenset({"id", "track_id", "release_id", "label_id", "artist_id"})  # not genre ids


async def assert_same_rows(
    sessions: async_sessionmaker[AsyncSession], *, fair_track_ids: set[int], id_shift: int
) -> None:
    """Both sides stored the same tracks, credits and chart entries (the fair side's ids shifted by id_shift)."""
    queries = {
        "tracks": "SELECT * FROM tracks",
        "credits": "SELECT * FROM track_artists",
        "chart entries": "SELECT position, track_id FROM chart_entries",
    }
    async with sessions() as session:
        for what, sql in queries.items():
            stored: dict[bool, list[tuple[Any, ...]]] = {False: [], True: []}
            for row in (await session.execute(text(sql))).mappings():
                is_fair = row.get("track_id", row.get("id")) in fair_track_ids
                shift = id_shift if is_fair else 0
                stored[is_fair].append(
                    tuple(
                        v - shift if k in SHIFTED_IDS and v is not None else v
                        for k, v in row.items()
                        if k not in ("created_at", "updated_at")
                    )
                )
            assert stored[False], f"nothing stored in {what}"
            assert sorted(stored[False]) == sorted(stored[True]), f"the sides stored different {what}"


# ---- reporting ----------------------------------------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def report(sides: list[Side]) -> None:
    print(
        f"machine: nproc {os.cpu_count()}, {platform.machine()}, {cpu_model()}, Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    print("ms per 100-track page: process CPU + PostgreSQL backend CPU = total (wall clock)")
    for side in sides:
        for visit, t in (*sorted(side.by_visit.items()), ("all", side.total())):
            print(
                f"{side.name:>5} {visit:>7}: {t.pages:3} pages  {t.cpu_ms:6.1f} + {t.pg_cpu_ms:5.1f} "
                f"= {t.total_ms:6.1f} ms  ({t.wall_ms:.1f} ms wall)"
            )
    mine, theirs = sides[0].total(), sides[1].total()
    print(
        f"ours_cpu_ms_per_page={mine.cpu_ms:.1f} ours_pg_cpu_ms_per_page={mine.pg_cpu_ms:.1f} "
        f"ours_total_ms_per_page={mine.total_ms:.1f} fair_cpu_ms_per_page={theirs.cpu_ms:.1f} "
        f"fair_pg_cpu_ms_per_page={theirs.pg_cpu_ms:.1f} fair_total_ms_per_page={theirs.total_ms:.1f} "
        f"fair_ratio={theirs.total_ms / mine.total_ms:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="timed rounds of an insert page + a revisit per side (20)"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="asyncpg URL of a maintenance db")
    args = parser.parse_args(argv)
    rounds = args.rounds + 1  # + the warm-up round
    if args.rounds < 1 or 2 * rounds > MAX_OFFSETS:
        parser.error(f"--rounds must be 1 … {MAX_OFFSETS // 2 - 1} (distinct ids run out)")

    print("preparing pages ...", flush=True)
    # Ours gets offsets 0 … rounds-1, fair the same shifted by `rounds` (assert_same_rows relies on it).
    pages = [(page_pair(k * ID_OFFSET_STEP), page_pair((k + rounds) * ID_OFFSET_STEP)) for k in range(rounds)]
    with scratch_database(prefix="cd_bench", admin_url=args.pg_admin_url) as database_url:
        sides = asyncio.run(run(database_url, pages))
    report(sides)


if __name__ == "__main__":
    main()
