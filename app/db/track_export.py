"""Track export, read side: every track matching the filters, in the list's order, as CSV-ready rows.

One statement read through a server-side cursor (`stream` + `yield_per`: asyncpg fetches a batch at a time),
so an export of a million tracks holds one batch in memory and sees one consistent snapshot. The database
formats what it can: text that a spreadsheet would run as a formula is quoted there, the price and the explicit
flag arrive as text and the Beatport URL is concatenated, so each row needs no per-field Python and goes to
`csv.writer` as it is. Credits (artists and remixers, in credited order) are one query per batch.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Integer, Select, String, case, cast, false, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import track_tables as tables
from app.db.track_filters import TrackFilters
from app.db.track_paging import TrackSort
from app.db.upsert import in_keys

EXPORT_BATCH_SIZE = 1000
CSV_COLUMNS = (
    "id",
    "name",
    "mix_name",
    "artists",
    "remixers",
    "label",
    "release",
    "genre",
    "sub_genre",
    "bpm",
    "key",
    "camelot",
    "isrc",
    "catalog_number",
    "length_ms",
    "publish_date",
    "new_release_date",
    "price",
    "currency",
    "explicit",
    "sample_url",
    "beatport_url",
    "spotify_id",
    "spotify_url",
)
CREDIT_COLUMNS = 3  # artists and remixers go in at this position, after id, name and mix_name
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BEATPORT_TRACK_URL = "https://www.beatport.com/track/"

_T, _TA, _AT = tables.TRACKS, tables.CREDITS, tables.ARTISTS


def spreadsheet_safe(text: str) -> str:
    """Text from Beatport can start with '=' or '@': quote it so spreadsheets never run it as a formula."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _sql_text(value: str) -> Any:
    """A constant written into the statement (not a parameter): the export is one statement, run once."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


_FIRST = (literal_column("1", Integer), literal_column("1", Integer))
_FORMULA_PREFIXES_SQL = [_sql_text(prefix) for prefix in FORMULA_PREFIXES]


def _safe(column: Any) -> Any:
    """`spreadsheet_safe` in SQL, for a text column (NULL stays NULL)."""
    starts_like_formula = func.substr(column, *_FIRST).in_(_FORMULA_PREFIXES_SQL)
    return case((starts_like_formula, _sql_text("'") + column), else_=column)


def _price(cents: Any) -> Any:
    """Minor units as a decimal text ('1.69'), the same on both backends (integer division and remainder)."""
    hundred = literal_column("100", Integer)
    units = cast(cents // hundred, String)
    rest = cents % hundred
    return (
        units
        + _sql_text(".")
        + case((rest < literal_column("10", Integer), _sql_text("0")), else_=_sql_text(""))
        + cast(rest, String)
    )


def _export_columns() -> list[Any]:
    """The CSV columns without artists and remixers, in CSV order."""
    return [
        _T.c.id,
        _safe(_T.c.name),
        _safe(_T.c.mix_name),
        _safe(tables.LABEL.c.name),
        _safe(tables.RELEASE.c.name),
        _safe(tables.GENRE.c.name),
        _safe(tables.SUB_GENRE.c.name),
        _T.c.bpm,
        _safe(_T.c.key_name),
        _safe(_T.c.camelot),
        _safe(_T.c.isrc),
        _safe(_T.c.catalog_number),
        _T.c.length_ms,
        _T.c.publish_date,
        _T.c.new_release_date,
        _price(_T.c.price_cents),
        _safe(_T.c.price_currency),
        case(
            (_T.c.is_explicit == true(), _sql_text("true")), (_T.c.is_explicit == false(), _sql_text("false"))
        ),
        _safe(_T.c.sample_url),
        _sql_text(BEATPORT_TRACK_URL)
        + func.coalesce(_T.c.slug, _sql_text("_"))
        + _sql_text("/")
        + cast(_T.c.id, String),
        _safe(_T.c.spotify_id),
        _safe(_T.c.spotify_url),
    ]


def _export_stmt(filters: TrackFilters, sort: TrackSort) -> Select[Any]:
    return (
        select(*_export_columns())
        .select_from(tables.TRACKS_WITH_REFERENCES)
        .where(*filters.conditions())
        .order_by(*sort.order_by())
    )


@functools.lru_cache(maxsize=4)
def _credit_names_stmt(dialect: str) -> Select[int, str, str]:
    """Credited names of the tracks in :keys, in credited order (an array on PostgreSQL: app.db.upsert)."""
    return (
        select(_TA.c.track_id, _TA.c.role, _AT.c.name)
        .join(_AT, _AT.c.id == _TA.c.artist_id)
        .where(in_keys(dialect, _TA.c.track_id))
        .order_by(_TA.c.track_id, _TA.c.role, _TA.c.position)
    )


async def _credit_names(session: AsyncSession, track_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(artists, remixers) of each track that has credits, each a spreadsheet-safe ', '-joined text."""
    names: dict[int, tuple[list[str], list[str]]] = {}
    dialect = session.get_bind().dialect.name
    for track_id, role, name in await session.execute(_credit_names_stmt(dialect), {"keys": list(track_ids)}):
        artists, remixers = names.setdefault(track_id, ([], []))
        (remixers if role == "remixer" else artists).append(name)
    return {
        track_id: (spreadsheet_safe(", ".join(artists)), spreadsheet_safe(", ".join(remixers)))
        for track_id, (artists, remixers) in names.items()
    }


NO_CREDITS = ("", "")


async def export_rows(
    session: AsyncSession, *, filters: TrackFilters, sort: TrackSort, batch_size: int = EXPORT_BATCH_SIZE
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Every matching track in the list's order, as batches of CSV rows (CSV_COLUMNS; None for empty).

    The caller owns the session and keeps it open while iterating: the cursor lives in its transaction.
    """
    stmt = _export_stmt(filters, sort).execution_options(yield_per=batch_size)
    result = await session.stream(stmt)
    async for batch in result.partitions():
        credits = await _credit_names(session, [row[0] for row in batch])
        yield [
            (*row[:CREDIT_COLUMNS], *credits.get(row[0], NO_CREDITS), *row[CREDIT_COLUMNS:]) for row in batch
        ]
