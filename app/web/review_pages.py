"""Match review: tracks searched on Spotify without a match (`match_method=none`), or matched with a low score
(`match_score_lt`), each linking to its track page, where the manual match form is."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from app.api.deps import ResourcesDep, SessionDep
from app.web.access import PAGE
from app.web.track_pages import track_list_response
from app.web.track_query import TrackForm

router = APIRouter(include_in_schema=False)

LOW_SCORE = "0.8"
VIEWS = {"unmatched": {"match_method": "none"}, "low-score": {"match_score_lt": LOW_SCORE}}


@router.get("/ui/review", dependencies=[PAGE])
async def review_page(
    request: Request,
    database: SessionDep,
    resources: ResourcesDep,
    show: Literal["unmatched", "low-score"] = "unmatched",
) -> Response:
    form = TrackForm.read(request.query_params, carry={"show": show}, **VIEWS[show])
    return await track_list_response(
        request,
        form,
        database,
        resources,
        template="review.html",
        title="Match review",
        action="/ui/review",
        show=show,
        low_score=LOW_SCORE,
    )
