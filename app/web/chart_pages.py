"""Charts: every collected chart, a chart's latest snapshot, and the movers between two of its snapshots,
read with the repository functions the chart endpoints use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.api.input_types import INT4_MAX
from app.db import charts
from app.db.charts import ChartLookupError
from app.web.access import PAGE
from app.web.templating import page

router = APIRouter(include_in_schema=False)

ChartKey = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
SnapshotId = Annotated[int | None, Query(ge=1, le=INT4_MAX)]


def _refused(request: Request, error: ChartLookupError) -> Response:
    return page(request, "error.html", status_code=404, title="Chart", message=error.message)


@router.get("/ui/charts", dependencies=[PAGE])
async def chart_list(request: Request, database: SessionDep) -> Response:
    return page(request, "charts.html", title="Charts", charts=await charts.list_charts(database))


@router.get("/ui/charts/{chart_key}", dependencies=[PAGE])
async def chart_page(request: Request, chart_key: ChartKey, database: SessionDep) -> Response:
    return await render_chart(request, chart_key, database)


async def render_chart(
    request: Request, chart_key: str, database: AsyncSession, *, sync_problem: str | None = None
) -> Response:
    """The latest snapshot, with the form that mirrors it into Spotify (`sync_problem`: why it was refused)."""
    try:
        snapshots = await charts.list_snapshots(database, chart_key=chart_key)
        latest, entries = await charts.snapshot_entries(database, chart_key=chart_key)
    except ChartLookupError as error:
        return _refused(request, error)
    chart = next((c for c in await charts.list_charts(database) if c.chart_key == chart_key), None)
    return page(
        request,
        "chart.html",
        title=chart.title if chart else chart_key,
        chart=chart,
        chart_key=chart_key,
        snapshots=snapshots,
        latest=latest,
        entries=entries,
        sync_problem=sync_problem,
        status_code=409 if sync_problem else 200,
    )


@router.get("/ui/charts/{chart_key}/movers", dependencies=[PAGE])
async def movers_page(
    request: Request,
    chart_key: ChartKey,
    database: SessionDep,
    from_id: Annotated[SnapshotId, Query(alias="from")] = None,
    to_id: Annotated[SnapshotId, Query(alias="to")] = None,
) -> Response:
    try:
        snapshots = await charts.list_snapshots(database, chart_key=chart_key)
    except ChartLookupError as error:
        return _refused(request, error)
    movers, problem, status_code = None, None, 200
    try:
        movers = await charts.chart_movers(database, chart_key=chart_key, from_id=from_id, to_id=to_id)
    except ChartLookupError as error:  # the API's 404, 409 and 422, in its words
        problem = error.message
        status_code = (
            409
            if isinstance(error, charts.NothingToCompare)
            else 422
            if isinstance(error, charts.SnapshotOrder)
            else 404
        )
    return page(
        request,
        "movers.html",
        status_code=status_code,
        title=f"Movers: {chart_key}",
        chart_key=chart_key,
        snapshots=snapshots,
        movers=movers,
        problem=problem,
        chosen=(from_id, to_id),
    )
