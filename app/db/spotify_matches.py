"""Spotify matches repository: which tracks to match on Spotify, and storing what was found.

A track's Spotify state is its `spotify_match_method`: NULL = never checked, `isrc`/`search` = matched,
`none` = checked and not found (a recorded miss, so it is not searched again unless asked), `manual` = set
through the API (a match or "not on Spotify"), locked (`spotify_match_locked_at`): no enrichment selects or
changes a locked track, `force` included.
An artist's Spotify object is cached on the artist row (`spotify_fetched_at` set): fetched once, never again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db.models import Artist, Track, TrackArtist

MATCHED_METHODS = ("isrc", "search")
MISS_METHOD = "none"
MANUAL_METHOD = "manual"
UNLOCKED = Track.spotify_match_locked_at.is_(None)


# `track_fields` name → track column.
_FIELD_COLUMNS = {
    "spotify_id": "spotify_id",
    "url": "spotify_url",
    "album_id": "spotify_album_id",
    "album_name": "spotify_album_name",
    "album_type": "spotify_album_type",
    "release_date": "spotify_album_release_date",
    "duration_ms": "spotify_duration_ms",
    "explicit": "spotify_explicit",
    "popularity": "spotify_popularity",
}
NO_SPOTIFY_FIELDS: dict[str, Any] = {column: None for column in _FIELD_COLUMNS.values()} | {
    "spotify_match_score": None
}


@dataclass(frozen=True, slots=True)
class ArtistCredit:
    id: int  # Beatport artist id
    name: str
    spotify_id: str | None  # linked Spotify artist, if any


@dataclass(frozen=True, slots=True)
class TrackForEnrichment:
    id: int
    isrc: str | None
    name: str
    mix_name: str | None
    length_ms: int | None
    artists: tuple[ArtistCredit, ...]  # role "artist", credited order
    remixers: tuple[ArtistCredit, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectionCount:
    selectable: int  # tracks the criteria select (after the cursor), before any limit
    skipped_already_enriched: int  # in scope, but left alone because of their recorded state


@dataclass(frozen=True, slots=True)
class CachedArtist:
    genres: list[str] | None  # None = Spotify did not say; [] = no genres
    fetched_at: dt.datetime


def _skipped_methods(*, only_missing: bool, force: bool) -> list[str]:
    """Recorded states a run leaves alone: matches unless `only_missing` is off, misses unless `force`."""
    skipped: list[str] = []
    if only_missing:
        skipped += MATCHED_METHODS
    if not force:
        skipped.append(MISS_METHOD)
    return skipped


def _conditions(
    *, track_ids: Sequence[int] | None, only_missing: bool, force: bool, after_id: int | None
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(scope, skipped): the tracks asked about, and which of them a run leaves alone."""
    scope: ColumnElement[bool] = Track.id.in_(list(track_ids)) if track_ids is not None else true()
    if after_id is not None:
        scope = and_(scope, Track.id > after_id)
    skipped_methods = _skipped_methods(only_missing=only_missing, force=force)
    # NULL (never checked) is never skipped; a locked (manual) decision always is.
    skipped = (
        or_(Track.spotify_match_method.in_(skipped_methods), ~UNLOCKED) if skipped_methods else ~UNLOCKED
    )
    return scope, skipped


async def count_selection(
    session: AsyncSession,
    *,
    track_ids: Sequence[int] | None,
    only_missing: bool,
    force: bool,
    after_id: int | None = None,
) -> SelectionCount:
    """How many tracks `select_tracks` would give with no limit, and how many in scope it leaves alone."""
    scope, skipped = _conditions(
        track_ids=track_ids, only_missing=only_missing, force=force, after_id=after_id
    )
    in_scope = select(func.count()).select_from(Track).where(scope)
    total = int((await session.execute(in_scope)).scalar_one())
    left_alone = int((await session.execute(in_scope.where(skipped))).scalar_one())
    return SelectionCount(selectable=total - left_alone, skipped_already_enriched=left_alone)


async def select_tracks(
    session: AsyncSession,
    *,
    track_ids: Sequence[int] | None,
    only_missing: bool,
    force: bool,
    after_id: int | None = None,
    limit: int | None,
) -> list[TrackForEnrichment]:
    """Tracks to check on Spotify, in id order, after `after_id` (a keyset cursor), at most `limit`.

    Scope: `track_ids` (unknown ids are ignored) or every track. Never-checked tracks are always selected;
    matched ones only with `only_missing=False`; recorded misses only with `force=True`.
    """
    scope, skipped = _conditions(
        track_ids=track_ids, only_missing=only_missing, force=force, after_id=after_id
    )
    query = (
        select(Track)
        .options(selectinload(Track.artist_links).selectinload(TrackArtist.artist))
        .where(scope)
        .order_by(Track.id)
    )
    # A never-checked track (method NULL) is never locked; `~skipped` alone would be NULL for it.
    query = query.where(or_(Track.spotify_match_method.is_(None), ~skipped))
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).scalars().all()
    return [_for_enrichment(t) for t in rows]


def _for_enrichment(track: Track) -> TrackForEnrichment:
    def credits(role: str) -> tuple[ArtistCredit, ...]:
        links = sorted((link for link in track.artist_links if link.role == role), key=lambda x: x.position)
        return tuple(ArtistCredit(link.artist_id, link.artist.name, link.artist.spotify_id) for link in links)

    return TrackForEnrichment(
        id=track.id,
        isrc=track.isrc,
        name=track.name,
        mix_name=track.mix_name,
        length_ms=track.length_ms,
        artists=credits("artist"),
        remixers=credits("remixer"),
    )


async def save_match(
    session: AsyncSession,
    *,
    track_id: int,
    fields: dict[str, Any],
    method: str,
    score: float,
    artist_links: dict[str, tuple[Collection[int], CachedArtist]],
    now: dt.datetime,
) -> None:
    """Store a match, and link our artists to their Spotify artists (with the cached artist object).

    `artist_links`: Spotify artist id → (our artist ids credited as that artist, its cached object).
    An artist already linked to another Spotify id keeps that link.
    """
    if method not in MATCHED_METHODS:
        raise ValueError(f"unknown match method {method!r}")
    await session.execute(
        update(Track)
        .where(Track.id == track_id, UNLOCKED)  # a manual decision made meanwhile wins
        .values(
            **{column: fields[name] for name, column in _FIELD_COLUMNS.items()},
            spotify_match_method=method,
            spotify_match_score=score,
            spotify_enriched_at=now,
        )
    )
    for spotify_id, (artist_ids, cached) in artist_links.items():
        await session.execute(
            update(Artist)
            .where(Artist.id.in_(list(artist_ids)), Artist.spotify_id.is_(None))
            .values(spotify_id=spotify_id, spotify_genres=cached.genres, spotify_fetched_at=cached.fetched_at)
        )


async def save_miss(session: AsyncSession, *, track_id: int, now: dt.datetime) -> None:
    """Record that Spotify has no match: clears what an earlier (forced-over) match had stored."""
    await session.execute(
        update(Track)
        .where(Track.id == track_id, UNLOCKED)
        .values(**NO_SPOTIFY_FIELDS, spotify_match_method=MISS_METHOD, spotify_enriched_at=now)
    )


async def save_manual_decision(
    session: AsyncSession, *, track_id: int, fields: dict[str, Any] | None, locked_by: str, now: dt.datetime
) -> bool:
    """Lock the track's match to a Spotify track (`fields`, as `track_fields` gives) or to "not on Spotify"
    (None). False when there is no such track."""
    found = {column: fields[name] for name, column in _FIELD_COLUMNS.items()} if fields is not None else {}
    return await _set_decision(session, track_id, found, MANUAL_METHOD, now, locked_by)


async def clear_manual_decision(session: AsyncSession, *, track_id: int) -> bool:
    """Unlock the track and forget its Spotify state: the next enrichment checks it like a new track. False when
    there is no such track."""
    return await _set_decision(session, track_id, {}, None, None, None)


async def _set_decision(
    session: AsyncSession,
    track_id: int,
    found: dict[str, Any],
    method: str | None,
    at: dt.datetime | None,
    locked_by: str | None,
) -> bool:
    updated = await session.execute(
        update(Track)
        .where(Track.id == track_id)
        .values(
            **(NO_SPOTIFY_FIELDS | found),
            spotify_match_method=method,
            spotify_enriched_at=at,
            spotify_match_locked_by=locked_by,
            spotify_match_locked_at=at,
        )
    )
    return bool(updated.rowcount)  # type: ignore[attr-defined]


async def cached_artists(session: AsyncSession, *, spotify_ids: Sequence[str]) -> dict[str, CachedArtist]:
    """The Spotify artist objects already fetched (by any artist row linked to them), by Spotify id."""
    if not spotify_ids:
        return {}
    result = await session.execute(
        select(Artist.spotify_id, Artist.spotify_genres, Artist.spotify_fetched_at).where(
            Artist.spotify_id.in_(list(spotify_ids)), Artist.spotify_fetched_at.is_not(None)
        )
    )
    cached: dict[str, CachedArtist] = {}
    for spotify_id, genres, fetched_at in result:
        if spotify_id and fetched_at is not None:
            cached.setdefault(spotify_id, CachedArtist(genres=genres, fetched_at=fetched_at))
    return cached


async def save_artist(
    session: AsyncSession, *, spotify_id: str, artist_ids: Collection[int], cached: CachedArtist
) -> None:
    """Cache a fetched Spotify artist on every row linked to it, linking `artist_ids` if they are unlinked."""
    await session.execute(
        update(Artist)
        .where(
            or_(
                Artist.spotify_id == spotify_id,
                and_(Artist.id.in_(list(artist_ids)), Artist.spotify_id.is_(None)),
            )
        )
        .values(spotify_id=spotify_id, spotify_genres=cached.genres, spotify_fetched_at=cached.fetched_at)
    )


async def track_exists(session: AsyncSession, *, track_id: int) -> bool:
    return await session.scalar(select(Track.id).where(Track.id == track_id)) is not None
