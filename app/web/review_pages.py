"""Match review: tracks whose Spotify match is missing or doubtful, each linking to its track page, where the
manual match form is. Filters with `match_method`/`match_score_lt` where `GET /tracks` has them; without them,
tracks not matched (`enriched=false`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.deps import ResourcesDep, SessionDep
from app.api.track_routes import FILTER_PARAMETERS
from app.web.access import PAGE
from app.web.track_pages import track_list_response
from app.web.track_query import TrackForm

router = APIRouter(include_in_schema=False)

LOW_SCORE = "0.8"
NO_MATCH = {"match_method": "none"} if "match_method" in FILTER_PARAMETERS else {"enriched": "false"}
LOW_SCORES = {"match_score_lt": LOW_SCORE} if "match_score_lt" in FILTER_PARAMETERS else None


@router.get("/ui/review", dependencies=[PAGE])
async def review_page(
    request: Request, database: SessionDep, resources: ResourcesDep, show: str = "unmatched"
) -> Response:
    preset = LOW_SCORES if show == "low-score" and LOW_SCORES else NO_MATCH
    form = TrackForm.read(request.query_params, **preset)
    return await track_list_response(
        request,
        form,
        database,
        resources,
        template="review.html",
        title="Match review",
        action="/ui/review",
        show=show if LOW_SCORES else "unmatched",
        low_scores=LOW_SCORES is not None,
        low_score=LOW_SCORE,
    )
