"""Reading what was collected: `GET /tracks` (filter, sort, page; JSON or a streamed CSV) and `GET /tracks/{id}`.

The route checks what only HTTP knows (format=csv takes no paging) and turns TrackQueryError into a 422; the
filters, sorts and paging are checked where they are built (app.db.track_filters, app.db.track_paging) and the
queries live in app.db.track_queries, which returns the response models themselves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.access import READ
from app.api.deps import ResourcesDep, SessionDep
from app.api.input_types import IsoDate, QueryText
from app.api.responses import error_responses
from app.db.read_models import TrackDetailRead, TrackPage
from app.db.track_export import CSV_COLUMNS, export_lines
from app.db.track_filters import MAX_ID, MatchMethod, TrackFilters, TrackQueryError
from app.db.track_paging import SortField, SortOrder, TrackSort
from app.db.track_queries import get_track, list_tracks
from app.services.resources import Resources

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/tracks", tags=["tracks"])

MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000  # page × page size must stay an offset the database can take
CSV_FILENAME = "cratedigger-tracks.csv"

FILTER_PARAMETERS = tuple(field.name for field in dataclasses.fields(TrackFilters))  # named alike here


class TrackListQuery(BaseModel):
    """Query parameters of GET /tracks. Unknown parameters are rejected, so a misspelt filter is not ignored."""

    model_config = ConfigDict(extra="forbid")

    genre: QueryText | None = Field(None, description="genre id, slug or name (e.g. 11, tech-house)")
    label: QueryText | None = Field(None, description="label id, or part of its name (case-insensitive)")
    artist: QueryText | None = Field(None, description="artist id, or part of an artist's or remixer's name")
    bpm_min: int | None = Field(None, ge=0, le=999)
    bpm_max: int | None = Field(None, ge=0, le=999)
    key: QueryText | None = Field(None, description="Camelot code (8A) or key name (A Minor, F# Major)")
    isrc: QueryText | None = None
    enriched: bool | None = Field(None, description="true: matched on Spotify; false: not (yet) matched")
    published_from: IsoDate | None = Field(None, description="publish date, inclusive (YYYY-MM-DD)")
    published_to: IsoDate | None = Field(None, description="publish date, inclusive (YYYY-MM-DD)")
    match_method: MatchMethod | None = Field(
        None, description="how Spotify was matched: isrc, search, manual, or none (searched, no match)"
    )
    match_score_lt: float | None = Field(
        None, ge=0, le=1, allow_inf_nan=False, description="Spotify match score below this (0-1)"
    )
    sort: SortField = "id"
    order: SortOrder = "asc"
    page: int | None = Field(
        None, ge=1, le=MAX_PAGE, description="page number (offset paging); not with cursor"
    )
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    cursor: QueryText | None = Field(None, description="next_cursor of the previous response (keyset paging)")
    format: Literal["json", "csv"] = Field("json", description="csv: every matching track, streamed")

    def filters(self) -> TrackFilters:
        return TrackFilters(**{name: getattr(self, name) for name in FILTER_PARAMETERS})


def _invalid(error: TrackQueryError, value: Any) -> RequestValidationError:
    """The same 422 shape FastAPI gives for malformed parameters."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", error.field), "msg": error.message, "input": value}]
    )


@router.get(
    "",
    response_model=TrackPage,
    dependencies=[READ],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON page, or with format=csv a CSV file"}},
)
async def tracks(
    query: Annotated[TrackListQuery, Query()], session: SessionDep, resources: ResourcesDep
) -> Response | TrackPage:
    """Collected tracks, filtered, sorted (NULLs last, then by id) and paged by page number or cursor.

    `format=csv` streams every matching track (no paging) as `cratedigger-tracks.csv`.
    """
    try:
        filters = query.filters()
        sort = TrackSort(field=query.sort, order=query.order)
        if query.format == "json":
            return await list_tracks(
                session,
                filters=filters,
                sort=sort,
                page_size=query.page_size,
                page=query.page,
                cursor=query.cursor,
            )
        if query.page is not None or query.cursor is not None:
            raise TrackQueryError(
                "page" if query.page is not None else "cursor",
                "format=csv exports every matching track: leave out page and cursor",
            )
    except TrackQueryError as error:
        raise _invalid(error, getattr(query, error.field, None)) from error
    return await _csv_export(resources, filters, sort)


@router.get("/{track_id}", responses=error_responses(404), dependencies=[READ])
async def track(track_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep) -> TrackDetailRead:
    """One track: credits in order, label, release, genre, sub-genre, Spotify fields and chart history."""
    found = await get_track(session, track_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"No track with id {track_id} has been collected (ids are Beatport track ids).",
        )
    return found


# ---- CSV -----------------------------------------------------------------------------------------------


async def _csv_export(resources: Resources, filters: TrackFilters, sort: TrackSort) -> StreamingResponse:
    """The first batch is read before the response starts, so a database that is away answers 503, not a
    200 cut short. The session is opened here, not taken from the request's dependencies, so it lives exactly
    as long as the stream (its transaction holds the export's cursor)."""
    session = resources.sessions()
    batches = aiter(export_lines(session, filters=filters, sort=sort))
    try:
        first = await anext(batches, None)
    except BaseException:
        await session.close()
        raise
    return StreamingResponse(
        _csv_chunks(session, batches, first),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename={CSV_FILENAME}"},
    )


CSV_HEADER = ",".join(CSV_COLUMNS) + "\r\n"


async def _csv_chunks(
    session: AsyncSession, batches: AsyncIterator[list[str]], first: list[str] | None
) -> AsyncIterator[str]:
    """The header, then one chunk per batch of lines (the database wrote them)."""
    yield CSV_HEADER
    rows = 0
    batch, first = first, None  # only `batch` holds a batch: one is alive at a time
    try:
        while batch is not None:
            rows += len(batch)
            batch.append("")  # the last line's break
            yield "\r\n".join(batch)
            batch = await anext(batches, None)
    finally:
        await session.close()
    logger.info("CSV export: %d tracks", rows)
