"""Charts over time (contract, second part: "Catalogue"): `GET /charts`, `GET /charts/{chart_key}/snapshots`
and `GET /charts/{chart_key}/movers`.

The queries live in app.db.charts and return the response models; this module checks the input and turns the
repository's ChartLookupErrors into 404 (unknown chart or snapshot), 409 (nothing to compare) and 422 (`from`
not older than `to`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.access import READ
from app.api.deps import SessionDep
from app.api.input_types import INT4_MAX
from app.api.responses import error_responses
from app.db.chart_models import ChartMovers, ChartRead, ChartSnapshotRead
from app.db.charts import (
    KEY_FORMS,
    ChartLookupError,
    NothingToCompare,
    SnapshotOrder,
    chart_movers,
    list_charts,
    list_snapshots,
)

router = APIRouter(prefix="/charts", tags=["charts"])

ChartKey = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9][a-z0-9-]{0,99}$",  # what chart_snapshots.chart_key can hold, URL-safe
        description=f"as GET /charts gives it ({KEY_FORMS})",
    ),
]
SnapshotId = Annotated[int, Field(ge=1, le=INT4_MAX)]


class MoversQuery(BaseModel):
    """Query parameters of the movers; unknown ones are refused, so a misspelt `from` is not ignored."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False)

    from_: SnapshotId | None = Field(
        None, alias="from", description="the older snapshot (default: the one before `to`)"
    )
    to: SnapshotId | None = Field(None, description="the newer snapshot (default: the latest)")


def _answer(error: ChartLookupError) -> HTTPException:
    if isinstance(error, NothingToCompare):
        code = status.HTTP_409_CONFLICT
    elif isinstance(error, SnapshotOrder):
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
    else:
        code = status.HTTP_404_NOT_FOUND
    return HTTPException(code, detail=error.message)


@router.get("", dependencies=[READ])
async def charts(session: SessionDep) -> list[ChartRead]:
    """Every chart collected at least once (genre Top 100s, the overall Top 100, charts), the most recently
    collected first."""
    return await list_charts(session)


@router.get("/{chart_key}/snapshots", dependencies=[READ], responses=error_responses(404))
async def snapshots(chart_key: ChartKey, session: SessionDep) -> list[ChartSnapshotRead]:
    """Each collection of the chart, oldest first, with its number of entries. Unknown chart → 404."""
    try:
        return await list_snapshots(session, chart_key=chart_key)
    except ChartLookupError as error:
        raise _answer(error) from error


@router.get("/{chart_key}/movers", dependencies=[READ], responses=error_responses(404, 409))
async def movers(
    chart_key: ChartKey, query: Annotated[MoversQuery, Query()], session: SessionDep
) -> ChartMovers:
    """What changed between two snapshots: new entries (`reentry` when the track was listed in an older
    snapshot of this chart), dropped, up, down (both positions) and how many stayed put.

    Default: the last two snapshots; `to` alone compares it with the snapshot before it, `from` alone with the
    latest. Unknown chart, or a snapshot of another chart → 404; a chart collected once, or `to` its first
    snapshot → 409; `from` not older than `to` → 422.
    """
    try:
        return await chart_movers(session, chart_key=chart_key, from_id=query.from_, to_id=query.to)
    except ChartLookupError as error:
        raise _answer(error) from error
