"""What a competent developer writes first to store a Top 100 page: the fair baseline of bench/collect.py.

Not a strawman: the `__NEXT_DATA__` script is found with a string search and decoded with `json.loads` (no
HTML parser); each track object goes through the same field mapping as ours (`parse_track`, then the catalog's
track row), so both sides store the same values; then the SQLAlchemy ORM: one `SELECT … WHERE id IN (…)` per
entity type (genres, sub-genres, labels, releases, artists, tracks with their credits), attributes set on the
loaded objects (the ORM writes only the columns whose value changed), `add_all` for the new ones, one commit
per page.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.db.base import utcnow
from app.db.catalog import _track_row as track_row
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
from app.db.upsert import UpsertCounts
from app.sources.beatport.entities import BeatportTrack
from app.sources.beatport.parsing import parse_track

# What `save` handles: each of them keyed on its Beatport id.
Entity = TypeVar("Entity", Genre, SubGenre, Label, Release, Artist)


def next_data(html: str) -> dict[str, Any]:
    start = html.index('<script id="__NEXT_DATA__"')
    start = html.index(">", start) + 1
    data: dict[str, Any] = json.loads(html[start : html.index("</script>", start)])
    return data


def top100(html: str) -> tuple[str | None, list[BeatportTrack]]:
    """The page's title (its genre's name) and its tracks in chart order."""
    props = next_data(html)["props"]["pageProps"]
    for query in props["dehydratedState"]["queries"]:
        if "top-100-tracks" in query["queryKey"][0]:
            title = props["genre"]["name"] if props.get("genre") else None
            return title, [parse_track(item) for item in query["state"]["data"]["results"]]
    raise ValueError("no Top 100 tracks on the page")


async def store_page(
    sessions: async_sessionmaker[AsyncSession], html: str, *, chart_key: str, task_id: str
) -> UpsertCounts:
    title, tracks = top100(html)
    now = utcnow()
    async with sessions.begin() as session:
        genres = {t.genre.id: {"name": t.genre.name, "slug": t.genre.slug} for t in tracks if t.genre}
        await save(session, Genre, genres)
        sub_genres = {
            t.sub_genre.id: {"name": t.sub_genre.name, "slug": t.sub_genre.slug}
            for t in tracks
            if t.sub_genre
        }
        await save(session, SubGenre, sub_genres)
        labels = {
            t.label.id: {"name": t.label.name, "slug": t.label.slug, "image_url": t.label.image_url}
            for t in tracks
            if t.label
        }
        await save(session, Label, labels)
        releases = {
            t.release.id: {
                "name": t.release.name,
                "slug": t.release.slug,
                "image_url": t.release.image_url,
                "label_id": t.release.label.id if t.release.label else None,
            }
            for t in tracks
            if t.release
        }
        await save(session, Release, releases)
        artists = {a.id: {"name": a.name, "slug": a.slug} for t in tracks for a in (*t.artists, *t.remixers)}
        await save(session, Artist, artists)
        counts = await save_tracks(session, tracks, now)
        snapshot = ChartSnapshot(chart_key=chart_key, title=title, task_id=task_id, collected_at=now)
        session.add(snapshot)
        await session.flush()
        session.add_all(
            ChartEntry(snapshot_id=snapshot.id, position=position, track_id=t.id)
            for position, t in enumerate(tracks, start=1)
        )
    return counts


async def save(session: AsyncSession, model: type[Entity], rows: Mapping[int, Mapping[str, Any]]) -> None:
    existing = {obj.id: obj for obj in await session.scalars(select(model).where(model.id.in_(rows)))}
    new = []
    for id_, values in rows.items():
        obj = existing.get(id_)
        if obj is None:
            new.append(model(id=id_, **values))
        else:
            for name, value in values.items():
                setattr(obj, name, value)
    session.add_all(new)


def track_columns(t: BeatportTrack) -> dict[str, Any]:
    """The track's columns as ours maps them (the mapping is not what is compared), without its id."""
    columns = track_row(t)
    del columns["id"]
    return columns


def credits(t: BeatportTrack) -> list[tuple[str, int, int]]:
    return [
        (role, position, artist.id)
        for role, people in (("artist", t.artists), ("remixer", t.remixers))
        for position, artist in enumerate(people)
    ]


async def save_tracks(session: AsyncSession, tracks: list[BeatportTrack], now: dt.datetime) -> UpsertCounts:
    """Tracks with their credits; a track counts as updated when a column or its credits changed."""
    counts = UpsertCounts()
    found = await session.scalars(
        select(Track).where(Track.id.in_([t.id for t in tracks])).options(selectinload(Track.artist_links))
    )
    existing = {track.id: track for track in found}
    new = []
    for t in tracks:
        wanted = credits(t)
        track = existing.get(t.id)
        if track is None:
            track = Track(id=t.id, created_at=now, updated_at=now, **track_columns(t))
            track.artist_links = [TrackArtist(role=r, position=p, artist_id=a) for r, p, a in wanted]
            new.append(track)
            counts.created += 1
            continue
        for name, value in track_columns(t).items():
            setattr(track, name, value)
        if sorted((x.role, x.position, x.artist_id) for x in track.artist_links) != sorted(wanted):
            track.artist_links = [TrackArtist(role=r, position=p, artist_id=a) for r, p, a in wanted]
        if session.is_modified(track):
            track.updated_at = now
            counts.updated += 1
        else:
            counts.unchanged += 1
    session.add_all(new)
    return counts
