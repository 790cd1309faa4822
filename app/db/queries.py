"""Read side of the catalog: filtered, sorted, paged track lists; one track with everything known about it;
and a chunked iterator for exports. Works on SQLite and PostgreSQL.

Results are plain dataclasses (no ORM objects leave this module), so callers never trigger lazy loads.

Ordering is always total: the sort column, then the track id as tie-breaker in the same direction, with
NULLs last in both directions. That makes offset paging repeatable and lets keyset cursors resume exactly
after the last row seen, even while new tracks are being collected.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
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
from app.db.upsert import in_keys

# Core tables (not ORM attributes) on the list side: rows come back as plain tuples, without ORM loading.
_T = Track.__table__
_TA = TrackArtist.__table__
_GT = Genre.__table__
_LT = Label.__table__
_AT = Artist.__table__

SortField = Literal["publish_date", "bpm", "name", "created_at", "id"]
SORT_FIELDS: tuple[SortField, ...] = ("publish_date", "bpm", "name", "created_at", "id")
SortOrder = Literal["asc", "desc"]
EXPORT_BATCH_SIZE = 1000
MAX_ID = 2**63 - 1  # ids are BIGINT

_SORT_COLUMNS: dict[str, Any] = {
    "publish_date": _T.c.publish_date,
    "bpm": _T.c.bpm,
    "name": _T.c.name,
    "created_at": _T.c.created_at,
    "id": _T.c.id,
}
_NULLABLE_SORTS = frozenset({"publish_date", "bpm"})


class TrackQueryError(ValueError):
    """A filter, sort or cursor that cannot be used; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---- filters -----------------------------------------------------------------------------------------------

_CAMELOT = re.compile(r"^(1[0-2]|[1-9])([AB])$", re.I)
_KEY_NAME = re.compile(r"^([A-G])([b#♭♯]?)\s*(major|minor|maj|min)$", re.I)
# Beatport spells black keys with flats ("Gb Minor"); accept the sharp spelling too.
_SHARP_TO_FLAT = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}


@dataclass(frozen=True, slots=True)
class KeyFilter:
    camelot: str | None = None  # "8A"
    key_name: str | None = None  # "A Minor", as Beatport spells it


def parse_key(value: str) -> KeyFilter:
    """A Camelot code ("8A", "12b") or a key name ("A Minor", "F# minor", "Gb maj")."""
    text = value.strip()
    camelot = _CAMELOT.match(text)
    if camelot:
        return KeyFilter(camelot=f"{int(camelot.group(1))}{camelot.group(2).upper()}")
    name = _KEY_NAME.match(text)
    if name:
        note = name.group(1).upper() + name.group(2).replace("♭", "b").replace("♯", "#")
        note = _SHARP_TO_FLAT.get(note, note)
        mode = "Major" if name.group(3).lower().startswith("maj") else "Minor"
        return KeyFilter(key_name=f"{note} {mode}")
    raise TrackQueryError(
        "key",
        f"key {value!r} is neither a Camelot code (1A-12B, e.g. 8A) nor a key name (e.g. 'A Minor', 'F# Major')",
    )


@dataclass(frozen=True)
class TrackFilters:
    """All optional; given ones are combined with AND.

    `genre`, `label` and `artist` that are all digits are Beatport ids; otherwise `genre` is a slug or name
    (case-insensitive) and `label`/`artist` a case-insensitive name substring. `artist` matches artists and
    remixers. `key` is a Camelot code or key name. `enriched`: whether the track has a Spotify match.
    Dates are inclusive.
    """

    genre: str | None = None
    label: str | None = None
    artist: str | None = None
    bpm_min: int | None = None
    bpm_max: int | None = None
    key: str | None = None
    isrc: str | None = None
    enriched: bool | None = None
    published_from: dt.date | None = None
    published_to: dt.date | None = None

    def __post_init__(self) -> None:
        for name in ("genre", "label", "artist", "isrc", "key"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise TrackQueryError(name, f"{name} must not be empty")
            is_id = name in ("genre", "label", "artist") and value is not None and value.strip().isdigit()
            if is_id and int(value) > MAX_ID:
                raise TrackQueryError(name, f"{name} id {value.strip()} is not a Beatport id (too large)")
        if self.bpm_min is not None and self.bpm_max is not None and self.bpm_min > self.bpm_max:
            raise TrackQueryError(
                "bpm_min", f"bpm_min ({self.bpm_min}) must not be greater than bpm_max ({self.bpm_max})"
            )
        if (
            self.published_from is not None
            and self.published_to is not None
            and self.published_from > self.published_to
        ):
            raise TrackQueryError(
                "published_from",
                f"published_from ({self.published_from}) must not be after published_to ({self.published_to})",
            )
        if self.key is not None:
            parse_key(self.key)

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.genre is not None:
            text = self.genre.strip()
            if text.isdigit():
                where.append(_T.c.genre_id == int(text))
            else:
                wanted = text.lower()
                where.append(
                    _T.c.genre_id.in_(
                        select(_GT.c.id).where(
                            or_(func.lower(_GT.c.slug) == wanted, func.lower(_GT.c.name) == wanted)
                        )
                    )
                )
        if self.label is not None:
            text = self.label.strip()
            if text.isdigit():
                where.append(_T.c.label_id == int(text))
            else:
                where.append(_T.c.label_id.in_(select(_LT.c.id).where(_contains(_LT.c.name, text))))
        if self.artist is not None:
            text = self.artist.strip()
            credited = select(_TA.c.track_id)
            if text.isdigit():
                credited = credited.where(_TA.c.artist_id == int(text))
            else:
                credited = credited.join(_AT, _AT.c.id == _TA.c.artist_id).where(_contains(_AT.c.name, text))
            where.append(_T.c.id.in_(credited))
        if self.bpm_min is not None:
            where.append(_T.c.bpm >= self.bpm_min)
        if self.bpm_max is not None:
            where.append(_T.c.bpm <= self.bpm_max)
        if self.key is not None:
            key = parse_key(self.key)
            if key.camelot is not None:
                where.append(_T.c.camelot == key.camelot)
            else:
                where.append(func.lower(_T.c.key_name) == (key.key_name or "").lower())
        if self.isrc is not None:
            where.append(_T.c.isrc == re.sub(r"[\s-]", "", self.isrc).upper())
        if self.enriched is not None:
            where.append(_T.c.spotify_id.is_not(None) if self.enriched else _T.c.spotify_id.is_(None))
        if self.published_from is not None:
            where.append(_T.c.publish_date >= self.published_from)
        if self.published_to is not None:
            where.append(_T.c.publish_date <= self.published_to)
        return where


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match with LIKE wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition: ColumnElement[bool] = func.lower(column).like(f"%{escaped.lower()}%", escape="\\")
    return condition


# ---- sorting and cursors -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackSort:
    field: SortField = "id"
    order: SortOrder = "asc"

    def __post_init__(self) -> None:
        if self.field not in _SORT_COLUMNS:
            raise TrackQueryError(
                "sort", f"cannot sort by {self.field!r}: use one of {', '.join(SORT_FIELDS)}"
            )
        if self.order not in ("asc", "desc"):
            raise TrackQueryError("order", f"order must be asc or desc, not {self.order!r}")

    @property
    def descending(self) -> bool:
        return self.order == "desc"

    def order_by(self) -> list[Any]:
        column = _SORT_COLUMNS[self.field]
        keys: list[Any] = []
        if self.field in _NULLABLE_SORTS:
            keys.append(column.is_(None))  # false < true: NULLs last in both directions
        if self.field != "id":
            keys.append(column.desc() if self.descending else column.asc())
        keys.append(_T.c.id.desc() if self.descending else _T.c.id.asc())
        return keys

    def after(self, position: CursorPosition) -> ColumnElement[bool]:
        """Rows strictly after `position` in this order."""
        column = _SORT_COLUMNS[self.field]
        id_after = _T.c.id < position.id if self.descending else _T.c.id > position.id
        if self.field == "id":
            return id_after
        if position.value is None:  # already in the NULL tail: only the id decides
            return and_(column.is_(None), id_after)
        beyond = column < position.value if self.descending else column > position.value
        condition = or_(beyond, and_(column == position.value, id_after))
        if self.field in _NULLABLE_SORTS:
            condition = or_(column.is_(None), condition)
        return condition


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """The last row of a page, in a given sort: its sort value and id."""

    sort: SortField
    order: SortOrder
    value: Any
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, dt.date) else self.value
        raw = json.dumps([self.sort, self.order, value, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: TrackSort) -> CursorPosition:
    """The position a `next_cursor` token stands for; it must belong to the same sort and order."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        field, order, value, track_id = json.loads(raw)
        if not isinstance(track_id, int) or isinstance(track_id, bool) or not 0 <= track_id <= MAX_ID:
            raise ValueError("bad id")
        value = _cursor_value(field, value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise TrackQueryError(
            "cursor", "cursor is not valid: pass the next_cursor of a previous response unchanged"
        ) from error
    if (field, order) != (sort.field, sort.order):
        raise TrackQueryError(
            "cursor",
            f"this cursor continues a list sorted by {field} {order}, not {sort.field} {sort.order}: "
            "keep sort and order unchanged while paging with a cursor",
        )
    return CursorPosition(sort=field, order=order, value=value, id=track_id)


def _cursor_value(field: Any, value: Any) -> Any:
    if value is None:
        if field not in _NULLABLE_SORTS:
            raise ValueError(f"{field} is never null")
        return None
    if field == "publish_date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if field == "created_at" and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if (
        field in ("bpm", "id")
        and isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value) <= (2**31 - 1 if field == "bpm" else MAX_ID)  # the column types
    ):
        return value
    if field == "name" and isinstance(value, str):
        return value
    raise ValueError(f"bad {field} value")


# ---- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtistRef:
    id: int
    name: str
    slug: str | None


@dataclass(frozen=True, slots=True)
class NamedRef:
    id: int
    name: str
    slug: str | None


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    id: int
    name: str
    slug: str | None
    image_url: str | None


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """One row of a track list or export."""

    id: int
    name: str
    mix_name: str | None
    slug: str | None
    artists: tuple[ArtistRef, ...]
    remixers: tuple[ArtistRef, ...]
    bpm: int | None
    key_name: str | None
    camelot: str | None
    genre: NamedRef | None
    sub_genre: NamedRef | None
    label: NamedRef | None
    release: ReleaseRef | None
    isrc: str | None
    catalog_number: str | None
    length_ms: int | None
    publish_date: dt.date | None
    new_release_date: dt.date | None
    sample_url: str | None
    is_explicit: bool | None
    price_cents: int | None
    price_currency: str | None
    spotify_id: str | None
    spotify_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def enriched(self) -> bool:
        return self.spotify_id is not None


@dataclass(frozen=True, slots=True)
class TrackPage:
    items: list[TrackSummary]
    total: int
    page: int | None  # None when paging with a cursor
    page_size: int
    sort: TrackSort
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class CreditedArtist:
    id: int
    name: str
    slug: str | None
    spotify_id: str | None
    spotify_genres: list[str] | None


@dataclass(frozen=True, slots=True)
class LabelDetail:
    id: int
    name: str
    slug: str | None
    image_url: str | None


@dataclass(frozen=True, slots=True)
class ReleaseDetail:
    id: int
    name: str
    slug: str | None
    image_url: str | None
    label: LabelDetail | None


@dataclass(frozen=True, slots=True)
class ChartPosition:
    chart_key: str
    title: str | None
    collected_at: dt.datetime
    position: int
    snapshot_id: int


@dataclass(frozen=True, slots=True)
class SpotifyDetail:
    id: str | None
    url: str | None
    album_id: str | None
    album_name: str | None
    album_type: str | None
    album_release_date: str | None
    duration_ms: int | None
    explicit: bool | None
    popularity: int | None
    match_method: str | None
    match_score: float | None
    enriched_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class TrackDetail:
    id: int
    name: str
    mix_name: str | None
    slug: str | None
    artists: tuple[CreditedArtist, ...]
    remixers: tuple[CreditedArtist, ...]
    bpm: int | None
    key_name: str | None
    camelot: str | None
    genre: NamedRef | None
    sub_genre: NamedRef | None
    label: LabelDetail | None
    release: ReleaseDetail | None
    isrc: str | None
    catalog_number: str | None
    length_ms: int | None
    publish_date: dt.date | None
    new_release_date: dt.date | None
    sample_url: str | None
    is_explicit: bool | None
    price_cents: int | None
    price_currency: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    spotify: SpotifyDetail
    chart_history: tuple[ChartPosition, ...]  # oldest first


# ---- queries -----------------------------------------------------------------------------------------------

_G = _GT.alias("g")
_SG = SubGenre.__table__.alias("sg")
_L = _LT.alias("l")
_R = Release.__table__.alias("r")

_TRACK_COLUMNS = (
    _T.c.id,
    _T.c.name,
    _T.c.mix_name,
    _T.c.slug,
    _T.c.bpm,
    _T.c.key_name,
    _T.c.camelot,
    _T.c.isrc,
    _T.c.catalog_number,
    _T.c.length_ms,
    _T.c.publish_date,
    _T.c.new_release_date,
    _T.c.sample_url,
    _T.c.is_explicit,
    _T.c.price_cents,
    _T.c.price_currency,
    _T.c.spotify_id,
    _T.c.spotify_url,
    _T.c.created_at,
    _T.c.updated_at,
)


def _summary_select() -> Select[*tuple[Any, ...]]:
    return (
        select(
            *_TRACK_COLUMNS,
            _G.c.id.label("genre_id"),
            _G.c.name.label("genre_name"),
            _G.c.slug.label("genre_slug"),
            _SG.c.id.label("sub_genre_id"),
            _SG.c.name.label("sub_genre_name"),
            _SG.c.slug.label("sub_genre_slug"),
            _L.c.id.label("label_id"),
            _L.c.name.label("label_name"),
            _L.c.slug.label("label_slug"),
            _R.c.id.label("release_id"),
            _R.c.name.label("release_name"),
            _R.c.slug.label("release_slug"),
            _R.c.image_url.label("release_image_url"),
        )
        .select_from(_T)
        .outerjoin(_G, _G.c.id == _T.c.genre_id)
        .outerjoin(_SG, _SG.c.id == _T.c.sub_genre_id)
        .outerjoin(_L, _L.c.id == _T.c.label_id)
        .outerjoin(_R, _R.c.id == _T.c.release_id)
    )


async def _credits(
    session: AsyncSession, track_ids: Sequence[int]
) -> dict[int, tuple[list[ArtistRef], list[ArtistRef]]]:
    """(artists, remixers) per track, each in credited order."""
    credits: dict[int, tuple[list[ArtistRef], list[ArtistRef]]] = {tid: ([], []) for tid in track_ids}
    if not track_ids:
        return credits
    dialect = session.get_bind().dialect.name
    result = await session.execute(_credits_stmt(dialect), {"keys": list(track_ids)})
    seen: dict[int, ArtistRef] = {}
    for track_id, role, artist_id, name, slug in result:
        artist = seen.get(artist_id)
        if artist is None:
            artist = seen[artist_id] = ArtistRef(artist_id, name, slug)
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


class _Refs:
    """Genres, labels and releases shared by the tracks of a batch, one object each."""

    def __init__(self) -> None:
        self._named: dict[tuple[str, int], NamedRef] = {}
        self._releases: dict[int, ReleaseRef] = {}

    def named(self, kind: str, ref_id: int | None, name: str, slug: str | None) -> NamedRef | None:
        if ref_id is None:
            return None
        ref = self._named.get((kind, ref_id))
        if ref is None:
            ref = self._named[(kind, ref_id)] = NamedRef(ref_id, name, slug)
        return ref

    def release(
        self, ref_id: int | None, name: str, slug: str | None, image: str | None
    ) -> ReleaseRef | None:
        if ref_id is None:
            return None
        ref = self._releases.get(ref_id)
        if ref is None:
            ref = self._releases[ref_id] = ReleaseRef(ref_id, name, slug, image)
        return ref


async def _fetch(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    limit: int,
    offset: int = 0,
    after: CursorPosition | None = None,
) -> list[TrackSummary]:
    stmt = _summary_select().where(*filters.conditions())
    if after is not None:
        stmt = stmt.where(sort.after(after))
    stmt = stmt.order_by(*sort.order_by()).limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    rows = (await session.execute(stmt)).all()
    credits = await _credits(session, [row.id for row in rows])
    refs = _Refs()
    summaries = []
    for row in rows:
        artists, remixers = credits[row.id]
        summaries.append(
            TrackSummary(
                id=row.id,
                name=row.name,
                mix_name=row.mix_name,
                slug=row.slug,
                artists=tuple(artists),
                remixers=tuple(remixers),
                bpm=row.bpm,
                key_name=row.key_name,
                camelot=row.camelot,
                genre=refs.named("genre", row.genre_id, row.genre_name, row.genre_slug),
                sub_genre=refs.named("sub_genre", row.sub_genre_id, row.sub_genre_name, row.sub_genre_slug),
                label=refs.named("label", row.label_id, row.label_name, row.label_slug),
                release=refs.release(
                    row.release_id, row.release_name, row.release_slug, row.release_image_url
                ),
                isrc=row.isrc,
                catalog_number=row.catalog_number,
                length_ms=row.length_ms,
                publish_date=row.publish_date,
                new_release_date=row.new_release_date,
                sample_url=row.sample_url,
                is_explicit=row.is_explicit,
                price_cents=row.price_cents,
                price_currency=row.price_currency,
                spotify_id=row.spotify_id,
                spotify_url=row.spotify_url,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        )
    return summaries


def _position(track: TrackSummary, sort: TrackSort) -> CursorPosition:
    return CursorPosition(sort=sort.field, order=sort.order, value=getattr(track, sort.field), id=track.id)


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
    """
    if page is not None and cursor is not None:
        raise TrackQueryError("cursor", "give either page or cursor, not both")
    if page_size < 1:
        raise TrackQueryError("page_size", "page_size must be at least 1")
    if page is not None and page < 1:
        raise TrackQueryError("page", "page must be at least 1")
    after = decode_cursor(cursor, sort) if cursor is not None else None
    number = page if page is not None else (None if after is not None else 1)
    offset = (number - 1) * page_size if number is not None else 0
    # One extra row tells whether another page follows without a second query.
    rows = await _fetch(session, filters=filters, sort=sort, limit=page_size + 1, offset=offset, after=after)
    has_more = len(rows) > page_size
    items = rows[:page_size]
    total = await count_tracks(session, filters)
    return TrackPage(
        items=items,
        total=total,
        page=number,
        page_size=page_size,
        sort=sort,
        has_more=has_more,
        next_cursor=_position(items[-1], sort).encode() if has_more and items else None,
    )


async def iter_tracks(
    session: AsyncSession,
    *,
    filters: TrackFilters,
    sort: TrackSort,
    batch_size: int = EXPORT_BATCH_SIZE,
) -> AsyncIterator[list[TrackSummary]]:
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
        after = _position(batch[-1], sort)


async def get_track(session: AsyncSession, track_id: int) -> TrackDetail | None:
    """The track with its credits (artists and remixers in order), label, release, genre, sub-genre, Spotify
    fields and chart history (oldest first); None if no such track was collected."""
    track = (
        await session.execute(
            select(Track)
            .where(Track.id == track_id)
            .execution_options(populate_existing=True)
            .options(
                selectinload(Track.artist_links).joinedload(TrackArtist.artist),
                joinedload(Track.genre),
                joinedload(Track.sub_genre),
                joinedload(Track.label),
                joinedload(Track.release).joinedload(Release.label),
            )
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
            ChartSnapshot.id,
        )
        .join(ChartEntry, ChartEntry.snapshot_id == ChartSnapshot.id)
        .where(ChartEntry.track_id == track_id)
        .order_by(ChartSnapshot.collected_at, ChartSnapshot.id, ChartEntry.position)
    )
    links = sorted(track.artist_links, key=lambda link: (link.role, link.position))

    def credited(role: str) -> tuple[CreditedArtist, ...]:
        return tuple(
            CreditedArtist(
                id=link.artist.id,
                name=link.artist.name,
                slug=link.artist.slug,
                spotify_id=link.artist.spotify_id,
                spotify_genres=link.artist.spotify_genres,
            )
            for link in links
            if link.role == role
        )

    def label_detail(label: Label | None) -> LabelDetail | None:
        return LabelDetail(label.id, label.name, label.slug, label.image_url) if label else None

    release = track.release
    return TrackDetail(
        id=track.id,
        name=track.name,
        mix_name=track.mix_name,
        slug=track.slug,
        artists=credited("artist"),
        remixers=credited("remixer"),
        bpm=track.bpm,
        key_name=track.key_name,
        camelot=track.camelot,
        genre=NamedRef(track.genre.id, track.genre.name, track.genre.slug) if track.genre else None,
        sub_genre=(
            NamedRef(track.sub_genre.id, track.sub_genre.name, track.sub_genre.slug)
            if track.sub_genre
            else None
        ),
        label=label_detail(track.label),
        release=(
            ReleaseDetail(
                release.id, release.name, release.slug, release.image_url, label_detail(release.label)
            )
            if release
            else None
        ),
        isrc=track.isrc,
        catalog_number=track.catalog_number,
        length_ms=track.length_ms,
        publish_date=track.publish_date,
        new_release_date=track.new_release_date,
        sample_url=track.sample_url,
        is_explicit=track.is_explicit,
        price_cents=track.price_cents,
        price_currency=track.price_currency,
        created_at=track.created_at,
        updated_at=track.updated_at,
        spotify=SpotifyDetail(
            id=track.spotify_id,
            url=track.spotify_url,
            album_id=track.spotify_album_id,
            album_name=track.spotify_album_name,
            album_type=track.spotify_album_type,
            album_release_date=track.spotify_album_release_date,
            duration_ms=track.spotify_duration_ms,
            explicit=track.spotify_explicit,
            popularity=track.spotify_popularity,
            match_method=track.spotify_match_method,
            match_score=track.spotify_match_score,
            enriched_at=track.spotify_enriched_at,
        ),
        chart_history=tuple(
            ChartPosition(chart_key=key, title=title, collected_at=at, position=pos, snapshot_id=sid)
            for key, title, at, pos, sid in history
        ),
    )
