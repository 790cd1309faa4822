"""Benchmark: parse and store the real Beatport Top 100 page, ours against a naive baseline, on PostgreSQL.

    uv run python bench/collect.py [--passes 20] [--baseline-passes 5]

Each pass takes the real 2026-07 tech-house Top 100 page (~1 MB) with every track, artist, release and label id
shifted (tests.fakes.beatport.top100_with_ids_offset), so every pass inserts 100 new tracks. The page texts are
prepared before any timing. Both sides write into one fresh, migrated PostgreSQL database, created here and
dropped at the end.

- ours: what CollectionService does for one fetched page: `parse_html` (str.find + json.loads) then one
  transaction with `store_tracks` (bulk idempotent upserts) and `record_chart_entries`.
- baseline: a full BeautifulSoup `html.parser` parse to find the `__NEXT_DATA__` script, json.loads, the same
  field mapping (`parse_track`), then the ORM one row at a time: `session.get` + `session.add` per entity
  (genre, sub-genre, label, release, artists, track, credits, chart entry) and a flush + commit per track.

CPU is `time.process_time()` of this process only: PostgreSQL's own CPU (a separate process) is excluded from
the `cpu_ms_per_page` figures; `tracks_per_s` is wall clock and includes the database round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.fakes` lives beside `app`

from bs4 import BeautifulSoup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.catalog import record_chart_entries, store_tracks
from app.db.models import (
    Artist,
    ChartEntry,
    ChartSnapshot,
    Genre,
    Label,
    Release,
    SubGenre,
    Track,
    TrackArtist,
)
from app.db.session import create_engine, create_sessionmaker
from app.sources.beatport.models import BeatportTrack, TargetKind
from app.sources.beatport.parsing import parse_html, parse_track
from tests.fakes.beatport import ID_OFFSET_STEP, top100_with_ids_offset
from tests.pg import PG_ADMIN_URL, scratch_database

PAGE_URL = "https://www.beatport.com/genre/tech-house/11/top-100"
CHART_KEY = "genre-top100:11"
MAX_OFFSETS = 85  # top100_with_ids_offset keeps ids below 2**31 up to 84 * ID_OFFSET_STEP
DEFAULT_ADMIN_URL = PG_ADMIN_URL


@dataclass
class Measured:
    pages: int
    tracks: int
    wall_s: float
    cpu_s: float

    @property
    def tracks_per_s(self) -> float:
        return self.tracks / self.wall_s

    @property
    def cpu_ms_per_page(self) -> float:
        return self.cpu_s * 1000 / self.pages


StorePage = Callable[[async_sessionmaker[AsyncSession], str, str], Awaitable[int]]


# ---- ours -------------------------------------------------------------------------------------------------


async def ours(sessions: async_sessionmaker[AsyncSession], html: str, run_id: str) -> int:
    """One page as CollectionService stores it (minus the fetch)."""
    parsed = parse_html(html, kind=TargetKind.GENRE_TOP100, url=PAGE_URL)
    assert parsed.positions is not None
    async with sessions.begin() as session:
        counts = await store_tracks(session, tracks=parsed.tracks)
        await record_chart_entries(
            session,
            chart_key=CHART_KEY,
            title=parsed.title,
            task_id=run_id,
            entries=[(pos, t.id) for pos, t in zip(parsed.positions, parsed.tracks, strict=True)],
        )
    assert counts.tracks.created == len(parsed.tracks), counts  # every pass must insert
    return len(parsed.tracks)


# ---- the naive baseline -----------------------------------------------------------------------------------


def naive_tracks(html: str) -> list[BeatportTrack]:
    soup = BeautifulSoup(html, "html.parser")
    script = soup.find("script", id="__NEXT_DATA__")
    assert script is not None and script.string is not None
    data = json.loads(script.string)
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        results = (query.get("state", {}).get("data") or {}).get("results")
        if isinstance(results, list) and "top-100-tracks" in str(query.get("queryKey")):
            return [parse_track(item) for item in results]
    raise AssertionError("no Top 100 tracks query in the page")


async def baseline(sessions: async_sessionmaker[AsyncSession], html: str, run_id: str) -> int:
    tracks = naive_tracks(html)
    async with sessions() as session:
        snapshot = ChartSnapshot(
            chart_key=CHART_KEY, title="Tech House", task_id=run_id, collected_at=utcnow()
        )
        session.add(snapshot)
        await session.commit()
        for position, bt in enumerate(tracks, start=1):
            now = utcnow()
            if bt.genre and await session.get(Genre, bt.genre.id) is None:
                session.add(Genre(id=bt.genre.id, name=bt.genre.name, slug=bt.genre.slug))
            if bt.sub_genre and await session.get(SubGenre, bt.sub_genre.id) is None:
                session.add(SubGenre(id=bt.sub_genre.id, name=bt.sub_genre.name, slug=bt.sub_genre.slug))
            label = bt.label
            if label and await session.get(Label, label.id) is None:
                session.add(Label(id=label.id, name=label.name, slug=label.slug, image_url=label.image_url))
                await session.flush()
            if bt.release and await session.get(Release, bt.release.id) is None:
                session.add(
                    Release(
                        id=bt.release.id,
                        name=bt.release.name,
                        slug=bt.release.slug,
                        image_url=bt.release.image_url,
                        label_id=label.id if label else None,
                    )
                )
            for artist in (*bt.artists, *bt.remixers):
                if await session.get(Artist, artist.id) is None:
                    session.add(Artist(id=artist.id, name=artist.name, slug=artist.slug))
                    await session.flush()
            await session.flush()
            track = await session.get(Track, bt.id)
            if track is None:
                track = Track(id=bt.id, created_at=now)
                session.add(track)
            track.name = bt.name
            track.mix_name = bt.mix_name
            track.slug = bt.slug
            track.bpm = bt.bpm
            track.key_name = bt.key_name
            track.camelot = bt.camelot
            track.genre_id = bt.genre.id if bt.genre else None
            track.sub_genre_id = bt.sub_genre.id if bt.sub_genre else None
            track.release_id = bt.release.id if bt.release else None
            track.label_id = label.id if label else None
            track.isrc = bt.isrc
            track.catalog_number = bt.catalog_number
            track.length_ms = bt.length_ms
            track.publish_date = bt.publish_date
            track.new_release_date = bt.new_release_date
            track.sample_url = bt.sample_url
            track.is_explicit = bt.is_explicit
            track.price_cents = int(bt.price_value * 100) if bt.price_value is not None else None
            track.price_currency = bt.price_currency
            track.updated_at = now
            await session.flush()
            for role, people in (("artist", bt.artists), ("remixer", bt.remixers)):
                for index, artist in enumerate(people):
                    session.add(TrackArtist(track_id=bt.id, role=role, position=index, artist_id=artist.id))
                    await session.flush()
            session.add(ChartEntry(snapshot_id=snapshot.id, position=position, track_id=bt.id))
            await session.commit()
    return len(tracks)


# ---- running ----------------------------------------------------------------------------------------------


async def measure(store: StorePage, sessions: async_sessionmaker[AsyncSession], pages: list[str]) -> Measured:
    tracks = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for html in pages:
        tracks += await store(sessions, html, uuid.uuid4().hex)
    return Measured(len(pages), tracks, time.perf_counter() - wall, time.process_time() - cpu)


async def run(database_url: str, ours_pages: list[str], base_pages: list[str]) -> tuple[Measured, Measured]:
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        # One untimed warm-up page each (imports, statement compilation, connection pool).
        await ours(sessions, ours_pages[0], uuid.uuid4().hex)
        await baseline(sessions, base_pages[0], uuid.uuid4().hex)
        mine = await measure(ours, sessions, ours_pages[1:])
        theirs = await measure(baseline, sessions, base_pages[1:])
        async with sessions() as session:
            stored = (await session.execute(select(func.count()).select_from(Track))).scalar_one()
        expected = 100 * (len(ours_pages) + len(base_pages))
        assert stored == expected, f"{stored} tracks stored, expected {expected}"
    finally:
        await engine.dispose()
    return mine, theirs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passes", type=int, default=20, help="timed pages for ours (default 20)")
    parser.add_argument("--baseline-passes", type=int, default=5, help="timed pages for the baseline (5)")
    parser.add_argument("--pg-admin-url", default=DEFAULT_ADMIN_URL, help="asyncpg URL of a maintenance db")
    args = parser.parse_args(argv)
    if args.passes < 1 or args.baseline_passes < 1:
        parser.error("--passes and --baseline-passes must be >= 1")
    offsets = 2 + args.passes + args.baseline_passes  # +1 warm-up page each
    if offsets > MAX_OFFSETS:
        parser.error(f"at most {MAX_OFFSETS - 2} pages in total (distinct ids run out)")

    print("preparing pages ...", flush=True)
    pages = [top100_with_ids_offset(k * ID_OFFSET_STEP) for k in range(offsets)]
    ours_pages, base_pages = pages[: args.passes + 1], pages[args.passes + 1 :]

    with scratch_database(prefix="cd_bench", admin_url=args.pg_admin_url) as database_url:
        mine, theirs = asyncio.run(run(database_url, ours_pages, base_pages))

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    print("CPU is this process only (time.process_time); PostgreSQL's own CPU is not included.")
    for title, m in (("ours", mine), ("baseline", theirs)):
        print(
            f"{title:>8}: {m.pages} pages, {m.tracks} tracks in {m.wall_s:.2f} s wall, "
            f"{m.tracks_per_s:,.0f} tracks/s, {m.cpu_ms_per_page:.1f} ms CPU per 100-track page"
        )
    speedup = mine.tracks_per_s / theirs.tracks_per_s
    cpu_ratio = theirs.cpu_ms_per_page / mine.cpu_ms_per_page
    print(f"ours is {speedup:.1f}x the baseline's throughput and uses 1/{cpu_ratio:.1f} of its CPU per page")
    print(
        f"tracks_per_s={mine.tracks_per_s:.0f} cpu_ms_per_page={mine.cpu_ms_per_page:.1f} "
        f"baseline_tracks_per_s={theirs.tracks_per_s:.0f} "
        f"baseline_cpu_ms_per_page={theirs.cpu_ms_per_page:.1f} "
        f"speedup={speedup:.1f} cpu_ratio={cpu_ratio:.1f}"
    )


if __name__ == "__main__":
    main()
