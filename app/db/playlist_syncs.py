"""What a playlist sync reads (a source's tracks with their Spotify ids, in the source's order) and remembers
(which playlist a source went to, and what it held after the last sync)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ChartEntry, ChartSnapshot, PlaylistSync, Track, WatchlistTrack
from app.db.track_filters import TrackFilters
from app.db.track_paging import TrackSort

_S = ChartSnapshot.__table__
_E = ChartEntry.__table__
_T = Track.__table__
_W = WatchlistTrack.__table__


@dataclass(frozen=True)
class SourceTrack:
    track_id: int
    spotify_id: str | None
    checked: bool  # searched on Spotify at least once (matched or not)


@dataclass(frozen=True)
class ChartTracks:
    title: str | None
    tracks: list[SourceTrack]  # position order
    more: bool  # the snapshot lists more tracks than were read


async def chart_exists(session: AsyncSession, *, chart_key: str) -> bool:
    return bool(await session.scalar(select(exists().where(_S.c.chart_key == chart_key))))


async def latest_chart_tracks(session: AsyncSession, *, chart_key: str, limit: int) -> ChartTracks | None:
    """The tracks of the chart's latest snapshot in position order (None: never collected)."""
    latest = (
        await session.execute(
            select(_S.c.id, _S.c.title)
            .where(_S.c.chart_key == chart_key)
            .order_by(_S.c.collected_at.desc(), _S.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if latest is None:
        return None
    rows = await session.execute(
        select(_T.c.id, _T.c.spotify_id, _T.c.spotify_match_method)
        .join(_E, _E.c.track_id == _T.c.id)
        .where(_E.c.snapshot_id == latest.id)
        .order_by(_E.c.position)
        .limit(limit + 1)
    )
    tracks = [SourceTrack(row.id, row.spotify_id, row.spotify_match_method is not None) for row in rows]
    return ChartTracks(title=latest.title, tracks=tracks[:limit], more=len(tracks) > limit)


async def query_tracks(
    session: AsyncSession, *, filters: TrackFilters, sort: TrackSort, limit: int
) -> tuple[list[SourceTrack], bool]:
    """The first `limit` tracks of a GET /tracks query in its order, and whether more match."""
    rows = await session.execute(
        select(_T.c.id, _T.c.spotify_id, _T.c.spotify_match_method)
        .where(*filters.conditions())
        .order_by(*sort.order_by())
        .limit(limit + 1)
    )
    tracks = [SourceTrack(row.id, row.spotify_id, row.spotify_match_method is not None) for row in rows]
    return tracks[:limit], len(tracks) > limit


async def watchlist_tracks(
    session: AsyncSession, *, watchlist_id: int, limit: int
) -> tuple[list[SourceTrack], bool]:
    """The tracks new to a watchlist, newest first (as GET /watchlists/{id}/tracks lists them), and whether more
    are."""
    rows = await session.execute(
        select(_T.c.id, _T.c.spotify_id, _T.c.spotify_match_method)
        .join(_W, _W.c.track_id == _T.c.id)
        .where(_W.c.watchlist_id == watchlist_id)
        .order_by(_W.c.first_seen_at.desc(), _W.c.track_id.desc())
        .limit(limit + 1)
    )
    tracks = [SourceTrack(row.id, row.spotify_id, row.spotify_match_method is not None) for row in rows]
    return tracks[:limit], len(tracks) > limit


async def get_sync(session: AsyncSession, *, spotify_user_id: str, source_key: str) -> PlaylistSync | None:
    found: PlaylistSync | None = await session.scalar(
        select(PlaylistSync).where(
            PlaylistSync.spotify_user_id == spotify_user_id, PlaylistSync.source_key == source_key
        )
    )
    return found


async def remember_sync(
    session: AsyncSession,
    *,
    spotify_user_id: str,
    source_key: str,
    source: dict[str, Any],
    playlist_id: str,
    snapshot_id: str | None,
    uris: list[str],
    now: dt.datetime,
) -> None:
    """The source now lives in `playlist_id`, which held `uris` at `snapshot_id` (None: not known for sure)."""
    found = await get_sync(session, spotify_user_id=spotify_user_id, source_key=source_key)
    if found is None:
        found = PlaylistSync(spotify_user_id=spotify_user_id, source_key=source_key)
        session.add(found)
    found.source = source
    found.playlist_id = playlist_id
    found.snapshot_id = snapshot_id
    found.uris = uris
    found.synced_at = now
