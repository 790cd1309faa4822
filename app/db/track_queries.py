"""Track repository, read side: filtered, sorted, paged track lists and one track with everything known about
it (exports: app.db.track_export). Works on SQLite and PostgreSQL.

Results are the read models of app.db.read_models (no ORM objects leave this module), so callers never
trigger lazy loads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from app.db.models import (
    Artist,
    ChartEntry,
    ChartSnapshot,
    Release,
    Track,
    TrackArtist,
)
from app.db.read_models import NamedRef, Paging, ReleaseRef, TrackDetailRead, TrackPage, TrackRead
from app.db.track_filters import TrackFilters
from app.db.track_paging import CursorPosition, PageRequest, TrackSort
from app.db.track_tables import (
    ARTISTS,
    CREDITS,
    GENRE,
    LABEL,
    RELEASE,
    SUB_GENRE,
    TRACKS,
    TRACKS_WITH_REFERENCES,
)
from app.db.upsert import in_keys

COUNT_LIMIT = 10_000  # offset pages count matching tracks up to this; more is "more than 10,000"

_T, _TA, _AT = TRACKS, CREDITS, ARTISTS
_G, _SG, _L, _R = GENRE, SUB_GENRE, LABEL, RELEASE

# A list row selects what the read models declare: the TrackRead fields stored on the tracks table, in the
# model's order, then each reference's fields as `<kind>_<field>`.
_TRACK_FIELDS = tuple(name for name in TrackRead.model_fields if name in _T.c)
_LIST_SELECT = select(
    *(_T.c[name] for name in _TRACK_FIELDS),
    *(_G.c[name].label(f"genre_{name}") for name in NamedRef.model_fields),
    *(_SG.c[name].label(f"sub_genre_{name}") for name in NamedRef.model_fields),
    *(_L.c[name].label(f"label_{name}") for name in NamedRef.model_fields),
    *(_R.c[name].label(f"release_{name}") for name in ReleaseRef.model_fields),
).select_from(TRACKS_WITH_REFERENCES)

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


def _page_stmt(
    *, filters: TrackFilters, sort: TrackSort, limit: int, offset: int, after: CursorPosition | None
) -> Select[Any]:
    """The page's track ids first (tracks alone: one index scan in the sort's order, stopped by the LIMIT), then
    their genres, labels and releases. Joined before the LIMIT, a plan made from a low row estimate (a cursor
    near the end of a sort, where PostgreSQL judges a row comparison by its first column) would join every
    remaining row and sort them; on the ids alone, the ordered index scan is always the cheaper plan."""
    ids = select(_T.c.id).where(*filters.conditions())
    if after is not None:
        ids = ids.where(sort.after(after))
    ids = ids.order_by(*sort.order_by()).limit(limit)
    if offset:
        ids = ids.offset(offset)
    page = ids.subquery("page")
    return _LIST_SELECT.join(page, page.c.id == _T.c.id).order_by(*sort.order_by())


async def _fetch(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    limit: int,
    offset: int = 0,
    after: CursorPosition | None = None,
) -> list[TrackRead]:
    rows = (
        await session.execute(_page_stmt(filters=filters, sort=sort, limit=limit, offset=offset, after=after))
    ).all()
    return await _reads(session, rows)


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


async def count_tracks(session: AsyncSession, filters: TrackFilters, *, limit: int = COUNT_LIMIT) -> int:
    """Tracks matching `filters`, counted up to `limit` + 1: a count stops early instead of visiting every
    matching row, so it costs at most about as much as reading that many index entries."""
    return int((await session.execute(count_stmt(filters, limit=limit))).scalar_one())


def count_stmt(filters: TrackFilters, *, limit: int) -> Select[int]:
    """The bounded count of count_tracks."""
    # No column selected: an index-only or bitmap scan need not visit the rows it counts.
    matching = (
        select(literal_column("1")).select_from(_T).where(*filters.conditions()).limit(limit + 1).subquery()
    )
    return select(func.count()).select_from(matching)


async def _page_total(
    session: AsyncSession,
    filters: TrackFilters,
    request: PageRequest,
    *,
    shown: int,
    has_more: bool,
    count_limit: int,
) -> tuple[int | None, bool]:
    """`total` and `total_exact` of a page: none on cursor pages; known without a query on the last page."""
    if request.after is not None:
        return None, False
    if not has_more and (shown or not request.offset):
        return request.offset + shown, True
    if filters.count_is_unbounded():  # more than this page's end match; how many is not counted
        return request.offset + shown, False
    counted = await count_tracks(session, filters, limit=count_limit)
    return min(counted, count_limit), counted <= count_limit


async def list_tracks(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    page_size: int,
    page: int | None = None,
    cursor: str | None = None,
    count_limit: int = COUNT_LIMIT,
) -> TrackPage:
    """One page of tracks: by page number (offset) or after a cursor (keyset), never both.

    `next_cursor` is set whenever more rows follow, in both modes, so a client can switch to cursors.
    Offset pages count the matching tracks up to `count_limit`; cursor pages count nothing (`total` null).
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
    total, total_exact = await _page_total(
        session, filters, request, shown=len(items), has_more=has_more, count_limit=count_limit
    )
    return TrackPage(
        items=items,
        paging=Paging(
            page=request.number,
            page_size=request.size,
            total=total,
            total_exact=total_exact,
            has_more=has_more,
            next_cursor=sort.position_of(items[-1]).encode() if has_more and items else None,
            sort=sort.field,
            order=sort.order,
        ),
    )


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
