"""Benchmark: Spotify enrichment of 1,000 collected tracks against a fake Spotify with 20 ms latency.

    uv run python bench/enrich.py [--copies 10] [--latency-ms 20]

The tracks are the real 2026-07 tech-house Top 100, `--copies` times over: copy k has every Beatport id shifted
by k * ID_OFFSET_STEP (tests.fakes.beatport.top100_with_ids_offset), and, so that each copy is a different
recording on Spotify too, its own ISRCs and artist names ("Mili 3", "Ajna 3 (BE)"). They are stored with the
catalog repository (`store_tracks`) in a fresh, migrated PostgreSQL database, created here and dropped at the
end.

FakeSpotify (loopback HTTP, spotipy unchanged) answers each search after `--latency-ms`. Of the tracks, 97 in
100 are on Spotify under their ISRC (every 20th also on a compilation: two ISRC hits), 2 in 100 only under a
different ISRC (found by the title/artist search), 1 in 100 not at all. Pacing is lifted
(`AsyncRateLimiter(None)`), so the run measures the service, not the 2 requests/s budget.

Figures:
- searches per newly enriched (matched) track — 1 ISRC search per track, a second only without an ISRC hit;
- artist look-ups per distinct new Spotify artist (each fetched once, then cached in the database);
- requests for an already-enriched set (the same run again: goal 0);
- tracks per second (wall clock, first run), and the share of it spent waiting for the fake's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.fakes` lives beside `app`

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.catalog import store_tracks
from app.db.models import Artist, Track
from app.db.session import create_engine, create_sessionmaker
from app.services.enrichment import EnrichmentService
from app.services.enrichment_request import EnrichmentSummary, track_to_match
from app.services.spotify_matching import build_search_query, spotify_artist_name
from app.sources.beatport.entities import BeatportArtist, BeatportTrack, TargetKind
from app.sources.beatport.parsing import parse_html
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify import SpotifyClient
from tests.fakes.beatport import ID_OFFSET_STEP, top100_with_ids_offset
from tests.fakes.spotify import FakeSpotify, fake_id, make_track_item
from tests.pg import PG_ADMIN_URL, scratch_database

PAGE_URL = "https://www.beatport.com/genre/tech-house/11/top-100"
DEFAULT_ADMIN_URL = PG_ADMIN_URL
_SUFFIX = re.compile(r"^(?P<base>.*?)(?P<suffix>\s*\([A-Za-z]{2,3}\))?$")

Sessions = async_sessionmaker[AsyncSession]


# ---- the data -------------------------------------------------------------------------------------------


def _copy_artist(artist: BeatportArtist, copy: int) -> BeatportArtist:
    if copy == 0:
        return artist
    match = _SUFFIX.match(artist.name)
    assert match is not None
    return dataclasses.replace(artist, name=f"{match['base']} {copy}{match['suffix'] or ''}")


def _copy_isrc(isrc: str, copy: int) -> str:
    # The year's second digit becomes a letter, so no copy can take another track's real ISRC.
    return isrc if copy == 0 else f"{isrc[:7]}{chr(ord('A') + copy)}{isrc[8:]}"


def collected_tracks(copies: int) -> list[BeatportTrack]:
    tracks: list[BeatportTrack] = []
    for copy in range(copies):
        page = parse_html(
            top100_with_ids_offset(copy * ID_OFFSET_STEP), kind=TargetKind.GENRE_TOP100, url=PAGE_URL
        )
        for track in page.tracks:
            assert track.isrc
            tracks.append(
                dataclasses.replace(
                    track,
                    isrc=_copy_isrc(track.isrc, copy),
                    artists=tuple(_copy_artist(a, copy) for a in track.artists),
                    remixers=tuple(_copy_artist(a, copy) for a in track.remixers),
                )
            )
    tracks.sort(key=lambda t: t.id)  # the order the service takes them in
    assert len({t.isrc for t in tracks}) == len(tracks), "copied ISRCs collide"
    return tracks


def kind_of(index: int) -> str:
    return {97: "search", 98: "search", 99: "absent"}.get(index % 100, "isrc")


def program_spotify(fake: FakeSpotify, tracks: list[BeatportTrack]) -> dict[str, int]:
    """Answer every query the run will send from a table (the fake's own scan of 1,000 items would cost more
    CPU in this process than the service under test)."""
    expected = {"isrc": 0, "search": 0, "absent": 0}
    for index, track in enumerate(tracks):
        kind = kind_of(index)
        expected[kind] += 1
        if kind == "absent":
            continue  # unprogrammed queries answer zero hits
        names = [spotify_artist_name(a.name) for a in (*track.artists, *track.remixers)]
        artist_ids = [fake_id(f"artist:{name}") for name in names]
        for name, artist_id in zip(names, artist_ids, strict=True):
            fake.add_artist(artist_id, name)
        full_name = f"{track.name} - {track.mix_name}" if track.mix_name else track.name
        common: dict[str, Any] = {
            "artists": names,
            "artist_ids": artist_ids,
            "duration_ms": track.length_ms or 300_000,
        }
        assert track.isrc
        if kind == "isrc":
            items = [make_track_item(name=full_name, isrc=track.isrc, **common)]
            if index % 20 == 0:
                items.append(
                    make_track_item(
                        name=full_name,
                        isrc=track.isrc,
                        album_type="compilation",
                        album_name="Tech House Selection",
                        release_date="2026-01-09",
                        **common,
                    )
                )
            fake.set_search(f"isrc:{track.isrc}", items)
        else:
            plain = track.mix_name in (None, "Original Mix")  # Spotify often drops "Original Mix"
            item = make_track_item(
                name=track.name if plain else full_name, isrc=f"ZZ{track.isrc[2:]}", **common
            )
            fake.set_search(build_search_query(track_to_match(track)), [item])
    return expected


# ---- running --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    summary: EnrichmentSummary
    wall_s: float
    searches: int
    artist_lookups: int
    distinct_artist_paths: int


async def enrich_once(sessions: Sessions, fake: FakeSpotify) -> Run:
    fake.counts.clear()
    fake.server.clear()  # the request log
    async with SpotifyClient(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        api_url=fake.api_url,
        auth_url=fake.auth_url,
        limiter=AsyncRateLimiter(None),
    ) as client:
        started = time.perf_counter()
        summary = await EnrichmentService(sessions=sessions, client=client).enrich()
        wall = time.perf_counter() - started
    artist_paths = [r.path for r in fake.server.requests if r.path.startswith("/v1/artists/")]
    return Run(summary, wall, fake.counts["search"], fake.counts["artist"], len(set(artist_paths)))


async def run(
    database_url: str, tracks: list[BeatportTrack], latency_s: float
) -> tuple[Run, Run, int, dict[str, int]]:
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            await store_tracks(session, tracks=tracks)
        with FakeSpotify() as fake:
            expected = program_spotify(fake, tracks)
            fake.latency = latency_s
            first = await enrich_once(sessions, fake)
            second = await enrich_once(sessions, fake)
        async with sessions() as session:
            cached_artists = (
                await session.execute(
                    select(func.count(func.distinct(Artist.spotify_id))).where(
                        Artist.spotify_fetched_at.is_not(None)
                    )
                )
            ).scalar_one()
            stored = (await session.execute(select(func.count()).select_from(Track))).scalar_one()
        assert stored == len(tracks), stored
    finally:
        await engine.dispose()
    return first, second, int(cached_artists), expected


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--copies", type=int, default=10, help="copies of the Top 100 (default 10: 1,000 tracks)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="fake Spotify latency per answer (20)")
    parser.add_argument("--pg-admin-url", default=DEFAULT_ADMIN_URL, help="asyncpg URL of a maintenance db")
    args = parser.parse_args(argv)
    if not 1 <= args.copies <= 20:
        parser.error("--copies must be between 1 and 20")

    print("preparing tracks ...", flush=True)
    tracks = collected_tracks(args.copies)
    with scratch_database(prefix="cd_bench", admin_url=args.pg_admin_url) as database_url:
        first, second, cached_artists, expected = asyncio.run(
            run(database_url, tracks, args.latency_ms / 1000)
        )

    s = first.summary
    matched = s.matched_isrc + s.matched_search
    assert (s.matched_isrc, s.matched_search, s.unmatched) == (
        expected["isrc"],
        expected["search"],
        expected["absent"],
    ), s
    assert first.artist_lookups == first.distinct_artist_paths == s.artists_fetched, (
        "an artist was fetched twice"
    )
    searches_per_track = first.searches / matched
    lookups_per_artist = first.artist_lookups / cached_artists
    tracks_per_s = s.tracks_considered / first.wall_s
    waiting_share = s.requests_made * args.latency_ms / 1000 / first.wall_s

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"first run: {s.tracks_considered} tracks checked in {first.wall_s:.2f} s ({tracks_per_s:.1f} tracks/s): "
        f"{s.matched_isrc} by ISRC, {s.matched_search} by search, {s.unmatched} not found; "
        f"{s.requests_made} requests = {first.searches} searches + {first.artist_lookups} artist look-ups"
    )
    print(
        f"  {first.searches / s.tracks_considered:.3f} searches per checked track, "
        f"{searches_per_track:.3f} per newly enriched (matched) track (goal <= 1.05); "
        f"{first.artist_lookups} look-ups for {cached_artists} distinct new Spotify artists "
        f"= {lookups_per_artist:.3f} (goal 1.0)"
    )
    print(
        f"  {waiting_share:.0%} of the wall clock is the fake's {args.latency_ms:g} ms latency "
        f"({s.requests_made} sequential requests); the rest is spotipy, the thread hop and PostgreSQL"
    )
    print(
        f"second run (already enriched): {second.summary.requests_made} requests, "
        f"{second.summary.skipped_already_enriched} tracks skipped, {second.wall_s * 1000:.0f} ms"
    )
    print(
        f"searches_per_enriched_track={searches_per_track:.3f} artist_lookups_per_new_artist={lookups_per_artist:.3f} "
        f"requests_already_enriched={second.summary.requests_made} tracks_per_s={tracks_per_s:.1f} "
        f"tracks={s.tracks_considered} requests={s.requests_made} latency_ms={args.latency_ms:g}"
    )


if __name__ == "__main__":
    main()
