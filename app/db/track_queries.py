"""Track repository, read side: filtered, sorted, paged track lists; one track with everything known about it;
and a batched iterator for exports. Works on SQLite and PostgreSQL.

Results are the read models of app.db.read_models (no ORM objects leave this module), so callers never
trigger lazy loads.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

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
from app.db.read_models import NamedRef, Paging, ReleaseRef, TrackDetailRead, TrackPage, TrackRead
from app.db.track_filters import TrackFilters
from app.db.track_paging import CursorPosition, PageRequest, TrackSort
from app.db.upsert import in_keys

EXPORT_BATCH_SIZE = 1000

# Core tables (not ORM attributes) on the list side: rows come back as plain tuples, without ORM loading.
_T = Track.__table__
_TA = TrackArtist.__table__
_AT = Artist.__table__
_G = Genre.__table__.alias("g")
_SG = SubGenre.__table__.alias("sg")
_L = Label.__table__.alias("l")
_R = Release.__table__.alias("r")

# A list row selects what the read models declare: the TrackRead fields stored on the tracks table, in the
# model's order, then each reference's fields as `<kind>_<field>`.
_TRACK_FIELDS = tuple(name for name in TrackRead.model_fields if name in _T.c)
_LIST_SELECT = (
    select(
        *(_T.c[name] for name in _TRACK_FIELDS),
        *(_G.c[name].label(f"genre_{name}") for name in NamedRef.model_fields),
        *(_SG.c[name].label(f"sub_genre_{name}") for name in NamedRef.model_fields),
        *(_L.c[name].label(f"label_{name}") for name in NamedRef.model_fields),
        *(_R.c[name].label(f"release_{name}") for name in ReleaseRef.model_fields),
    )
    .select_from(_T)
    .outerjoin(_G, _G.c.id == _T.c.genre_id)
    .outerjoin(_SG, _SG.c.id == _T.c.sub_genre_id)
    .outerjoin(_L, _L.c.id == _T.c.label_id)
    .outerjoin(_R, _R.c.id == _T.c.release_id)
)

RefT = TypeVar("RefT", bound=NamedRef)
Credits = tuple[list[NamedRef], list[NamedRef]]  # (artists, remixers) of one track, in credited order


async def _credits(session: AsyncSession, track_ids: Sequence[int]) -> dict[int, Credits]:
    credits: dict[int, Credits] = {tid: ([], []) for tid in track_ids}
    if not track_ids:
        return credits
    dialect = session.get_bind().dialect.name
    result = await session.execute(_credits_stmt(dialect), {"keys": list(track_ids)})
    seen: dict[int, NamedRef] = {}
    for track_id, role, artist_id, name, slug in result:
        artist = seen.get(artist_id)
        if artist is None:
            artist = seen[artist_id] = NamedRef(id=artist_id, name=name, slug=slug)
        artists, remixers = credits[track_id]
        (remixers if role == "remixer" else artists).append(artist)
    return credits


@functools.lru_cache(maxsize=4)
def _credits_stmt(dialect: str) -> Select[int, str, int, str, str | None]:
    """Credits of the tracks in :keys (an array on PostgreSQL, see app.db.upsert.in_keys)."""
    return (
        select(_TA.c.track_id, _TA.c.role, _AT.c.id, _AT.c.name, _AT.c.slug)
        .join(Artist, _AT.c.id == _TA.c.artist_id)
        .where(in_keys(dialect, _TA.c.track_id))
        .order_by(_TA.c.track_id, _TA.c.role, _TA.c.position)
    )


class _SharedRefs:
    """Genres, labels and releases shared by the tracks of a batch, one object each."""

    def __init__(self) -> None:
        self._named: dict[str, dict[int, NamedRef]] = {"genre": {}, "sub_genre": {}, "label": {}}
        self._releases: dict[int, ReleaseRef] = {}

    def named(self, kind: str, row: Row[Any]) -> NamedRef | None:
        return _shared(self._named[kind], kind, NamedRef, row)

    def release(self, row: Row[Any]) -> ReleaseRef | None:
        return _shared(self._releases, "release", ReleaseRef, row)


def _shared(cache: dict[int, RefT], kind: str, model: type[RefT], row: Row[Any]) -> RefT | None:
    """The `kind` of this row, from its `<kind>_id`, `<kind>_name`, … columns; None if the track has none."""
    values = row._mapping
    ref_id = values[f"{kind}_id"]
    if ref_id is None:
        return None
    ref = cache.get(ref_id)
    if ref is None:
        ref = cache[ref_id] = model.model_validate(
            {name: values[f"{kind}_{name}"] for name in model.model_fields}
        )
    return ref


async def _fetch(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    limit: int,
    offset: int = 0,
    after: CursorPosition | None = None,
) -> list[TrackRead]:
    stmt = _LIST_SELECT.where(*filters.conditions())
    if after is not None:
        stmt = stmt.where(sort.after(after))
    stmt = stmt.order_by(*sort.order_by()).limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return await _reads(session, (await session.execute(stmt)).all())


async def tracks_by_id(session: AsyncSession, track_ids: Sequence[int]) -> dict[int, TrackRead]:
    """The list shape of each of these tracks that was collected, by id (for lists kept elsewhere: watchlists)."""
    if not track_ids:
        return {}
    rows = (await session.execute(_LIST_SELECT.where(_T.c.id.in_(list(track_ids))))).all()
    return {track.id: track for track in await _reads(session, rows)}


async def _reads(session: AsyncSession, rows: Sequence[Row[Any]]) -> list[TrackRead]:
    """List rows of _LIST_SELECT as read models, with their credits (one more query for all of them)."""
    credits = await _credits(session, [row.id for row in rows])
    refs = _SharedRefs()
    tracks = []
    for row in rows:
        artists, remixers = credits[row.id]
        tracks.append(
            TrackRead.model_validate(
                {
                    **dict(zip(_TRACK_FIELDS, row, strict=False)),
                    "artists": artists,
                    "remixers": remixers,
                    "genre": refs.named("genre", row),
                    "sub_genre": refs.named("sub_genre", row),
                    "label": refs.named("label", row),
                    "release": refs.release(row),
                }
            )
        )
    return tracks


async def count_tracks(session: AsyncSession, filters: TrackFilters) -> int:
    stmt = select(func.count()).select_from(_T).where(*filters.conditions())
    return int((await session.execute(stmt)).scalar_one())


async def list_tracks(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    page_size: int,
    page: int | None = None,
    cursor: str | None = None,
) -> TrackPage:
    """One page of tracks: by page number (offset) or after a cursor (keyset), never both.

    `next_cursor` is set whenever more rows follow, in both modes, so a client can switch to cursors.
    Raises TrackQueryError for paging parameters that cannot be used together.
    """
    request = PageRequest.parse(sort=sort, page_size=page_size, page=page, cursor=cursor)
    # One extra row tells whether another page follows without a second query.
    rows = await _fetch(
        session,
        filters=filters,
        sort=sort,
        limit=request.size + 1,
        offset=request.offset,
        after=request.after,
    )
    has_more = len(rows) > request.size
    items = rows[: request.size]
    return TrackPage(
        items=items,
        paging=Paging(
            page=request.number,
            page_size=request.size,
            total=await count_tracks(session, filters),
            has_more=has_more,
            next_cursor=sort.position_of(items[-1]).encode() if has_more and items else None,
            sort=sort.field,
            order=sort.order,
        ),
    )


async def iter_tracks(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    batch_size: int = EXPORT_BATCH_SIZE,
) -> AsyncIterator[list[TrackRead]]:
    """Every matching track, in order, as batches of at most `batch_size`.

    Each batch is its own keyset query (after the previous batch's last row), so memory stays bounded by one
    batch however many tracks match, on both backends, without a server-side cursor.
    """
    after: CursorPosition | None = None
    while True:
        batch = await _fetch(session, filters=filters, sort=sort, limit=batch_size, after=after)
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        after = sort.position_of(batch[-1])


_DETAIL_OPTIONS = (
    selectinload(Track.artist_links).joinedload(TrackArtist.artist),
    joinedload(Track.genre),
    joinedload(Track.sub_genre),
    joinedload(Track.label),
    joinedload(Track.release).joinedload(Release.label),
)
# TrackDetailRead fields that are not attributes of the same name on the track row.
_DETAIL_EXTRAS = frozenset({"artists", "remixers", "spotify", "chart_history"})


async def get_track(session: AsyncSession, track_id: int) -> TrackDetailRead | None:
    """The track with its credits (artists and remixers in order), label, release, genre, sub-genre, Spotify
    fields and chart history (oldest first); None if no such track was collected."""
    track = (
        await session.execute(
            select(Track)
            .where(Track.id == track_id)
            .execution_options(populate_existing=True)
            .options(*_DETAIL_OPTIONS)
        )
    ).scalar_one_or_none()
    if track is None:
        return None
    history = await session.execute(
        select(
            ChartSnapshot.chart_key,
            ChartSnapshot.title,
            ChartSnapshot.collected_at,
            ChartEntry.position,
            ChartSnapshot.id.label("snapshot_id"),
        )
        .join(ChartEntry, ChartEntry.snapshot_id == ChartSnapshot.id)
        .where(ChartEntry.track_id == track_id)
        .order_by(ChartSnapshot.collected_at, ChartSnapshot.id, ChartEntry.position)
    )
    links = sorted(track.artist_links, key=lambda link: link.position)
    return TrackDetailRead.model_validate(
        {
            **{
                name: getattr(track, name)
                for name in TrackDetailRead.model_fields
                if name not in _DETAIL_EXTRAS
            },
            "artists": [link.artist for link in links if link.role == "artist"],
            "remixers": [link.artist for link in links if link.role == "remixer"],
            "spotify": track,
            "chart_history": history.all(),
        }
    )
