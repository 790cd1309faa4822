"""Catalog repository: stores parsed Beatport tracks (and everything they reference) idempotently."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
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
from app.db.upsert import UpsertCounts, in_keys, insert_for_dialect, insert_rows, upsert_rows
from app.sources.beatport.entities import BeatportTrack


@dataclass
class StoreCounts:
    tracks: UpsertCounts
    artists_created: int = 0


def _track_row(track: BeatportTrack) -> dict[str, Any]:
    price_cents = (
        int((track.price_value * 100).to_integral_value()) if track.price_value is not None else None
    )
    return {
        "id": track.id,
        "name": track.name,
        "mix_name": track.mix_name,
        "slug": track.slug,
        "bpm": track.bpm,
        "key_name": track.key_name,
        "camelot": track.camelot,
        "genre_id": track.genre.id if track.genre else None,
        "sub_genre_id": track.sub_genre.id if track.sub_genre else None,
        "release_id": track.release.id if track.release else None,
        "label_id": track.label.id if track.label else None,
        "isrc": track.isrc,
        "catalog_number": track.catalog_number,
        "length_ms": track.length_ms,
        "publish_date": track.publish_date,
        "new_release_date": track.new_release_date,
        "sample_url": track.sample_url,
        "is_explicit": track.is_explicit,
        "price_cents": price_cents,
        "price_currency": track.price_currency,
    }


def _link_rows(track: BeatportTrack) -> list[tuple[int, str, int, int]]:
    rows = [(track.id, "artist", i, a.id) for i, a in enumerate(track.artists)]
    rows += [(track.id, "remixer", i, a.id) for i, a in enumerate(track.remixers)]
    return rows


async def store_tracks(
    session: AsyncSession, *, tracks: Sequence[BeatportTrack], now: dt.datetime | None = None
) -> StoreCounts:
    """Upsert tracks with their genres, labels, releases, artists and artist roles.

    The caller owns the transaction: one page is stored in one commit, so a crash never leaves half of it.
    A track counts as updated when its own fields or its artist/remixer list changed.
    """
    now = now or utcnow()
    genres = {t.genre.id: t.genre for t in tracks if t.genre}
    sub_genres = {t.sub_genre.id: t.sub_genre for t in tracks if t.sub_genre}
    labels = {t.label.id: t.label for t in tracks if t.label}
    releases = {t.release.id: t.release for t in tracks if t.release}
    artists = {a.id: a for t in tracks for a in (*t.artists, *t.remixers)}

    await upsert_rows(
        session, model=Genre, rows=[{"id": g.id, "name": g.name, "slug": g.slug} for g in genres.values()]
    )
    await upsert_rows(
        session,
        model=SubGenre,
        rows=[{"id": g.id, "name": g.name, "slug": g.slug} for g in sub_genres.values()],
    )
    await upsert_rows(
        session,
        model=Label,
        rows=[
            {"id": x.id, "name": x.name, "slug": x.slug, "image_url": x.image_url} for x in labels.values()
        ],
    )
    await upsert_rows(
        session,
        model=Release,
        rows=[
            {
                "id": r.id,
                "name": r.name,
                "slug": r.slug,
                "image_url": r.image_url,
                "label_id": r.label.id if r.label else None,
            }
            for r in releases.values()
        ],
    )
    artist_counts = await upsert_rows(
        session, model=Artist, rows=[{"id": a.id, "name": a.name, "slug": a.slug} for a in artists.values()]
    )
    wanted_links = {t.id: sorted(_link_rows(t)) for t in tracks}
    current_links = await _current_links(session, track_ids=list(wanted_links))
    credits_changed = [tid for tid, rows in wanted_links.items() if current_links.get(tid, []) != rows]
    track_counts = await upsert_rows(
        session,
        model=Track,
        rows=[_track_row(t) for t in tracks],
        on_change={"updated_at": now},
        on_create={"created_at": now},
        force_update=credits_changed,
    )
    if credits_changed:
        # Only tracks that had credits need a DELETE; a page of new tracks skips the statement.
        stale = [tid for tid in credits_changed if tid in current_links]
        if stale:
            await session.execute(_delete_links_stmt(_dialect(session)), {"keys": stale})
        new_rows = [
            {"track_id": r[0], "role": r[1], "position": r[2], "artist_id": r[3]}
            for tid in credits_changed
            for r in wanted_links[tid]
        ]
        await insert_rows(session, model=TrackArtist, rows=new_rows)
    return StoreCounts(tracks=track_counts, artists_created=artist_counts.created)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# Statements built once per dialect and reused (see app.db.upsert: no compile, no cache-key work per page).
@functools.lru_cache(maxsize=4)
def _current_links_stmt(dialect: str) -> Select[int, str, int, int]:
    return select(TrackArtist.track_id, TrackArtist.role, TrackArtist.position, TrackArtist.artist_id).where(
        in_keys(dialect, TrackArtist.__table__.c.track_id)
    )


@functools.lru_cache(maxsize=4)
def _delete_links_stmt(dialect: str) -> Delete:
    return delete(TrackArtist).where(in_keys(dialect, TrackArtist.__table__.c.track_id))


async def _current_links(
    session: AsyncSession, *, track_ids: list[int]
) -> dict[int, list[tuple[int, str, int, int]]]:
    result = await session.execute(_current_links_stmt(_dialect(session)), {"keys": track_ids})
    current: dict[int, list[tuple[int, str, int, int]]] = {}
    for row in result:
        current.setdefault(row[0], []).append((row[0], row[1], row[2], row[3]))
    return {tid: sorted(rows) for tid, rows in current.items()}


@functools.lru_cache(maxsize=4)
def _snapshot_stmt(dialect: str) -> Any:
    stmt = insert_for_dialect(dialect, ChartSnapshot.__table__)  # type: ignore[arg-type]
    return stmt.on_conflict_do_update(
        index_elements=["chart_key", "task_id"], set_={"task_id": stmt.excluded.task_id}
    ).returning(ChartSnapshot.__table__.c.id)


async def record_chart_entries(
    session: AsyncSession,
    *,
    chart_key: str,
    title: str | None,
    path: str,
    task_id: str,
    entries: Sequence[tuple[int, int]],
    now: dt.datetime | None = None,
) -> int:
    """Add (position, track id) entries to this task's snapshot of a chart; returns the snapshot id.

    Keyed on (chart_key, task_id): a task delivered again after a crash fills the same snapshot.
    """
    now = now or utcnow()
    # DO UPDATE with an unchanged value (not DO NOTHING) so RETURNING gives the id on a conflict too:
    # one statement whether this task's snapshot exists already or not.
    snapshot_id: int = (
        await session.execute(
            _snapshot_stmt(_dialect(session)),
            {"chart_key": chart_key, "title": title, "path": path, "task_id": task_id, "collected_at": now},
        )
    ).scalar_one()
    await insert_rows(
        session,
        model=ChartEntry,
        rows=[{"snapshot_id": snapshot_id, "position": pos, "track_id": tid} for pos, tid in entries],
        ignore_conflicts_on=("snapshot_id", "position"),
    )
    return snapshot_id
