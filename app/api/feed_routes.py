"""Feeds that feed readers fetch without an API key: the URL carries the feed's own token.

The token reads that one feed and nothing else. A missing, wrong or replaced token and an unknown watchlist all
get the same 404, so the answer tells nothing about which watchlists exist. The body depends only on what is
stored, so its hash is the ETag and `If-None-Match` gets a 304.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from app.api.access import PUBLIC
from app.api.atom_feed import render_feed
from app.api.deps import SessionDep
from app.api.responses import error_responses
from app.api.watchlist_routes import WatchlistId
from app.db import watchlists

router = APIRouter(prefix="/feeds", tags=["feeds"])

FEED_ENTRIES = 100
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"
NO_SUCH_FEED = "No such feed (an unknown watchlist, or a missing, wrong or replaced token)."
ETAG_HEADER = {"ETag": {"description": "the feed's version, for If-None-Match", "schema": {"type": "string"}}}


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of an If-None-Match list with the current ETag."""
    if if_none_match is None:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


@router.get(
    "/watchlists/{watchlist_id}.atom",
    name="watchlist_feed",
    dependencies=[PUBLIC],
    response_class=Response,
    responses={
        200: {
            "description": "The watchlist's newest tracks as an Atom 1.0 feed",
            "content": {"application/atom+xml": {"schema": {"type": "string"}}},
            "headers": ETAG_HEADER,
        },
        304: {"description": "Unchanged since the ETag sent in If-None-Match", "headers": ETAG_HEADER},
        **error_responses(404),
    },
)
async def watchlist_feed(
    watchlist_id: WatchlistId,
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Query(max_length=200, description="the feed token from feed_url")] = None,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The newest 100 tracks new to the watchlist, for feed readers: no API key, the feed token instead."""
    watchlist = (
        await watchlists.feed_watchlist(session, watchlist_id=watchlist_id, token=token) if token else None
    )
    if watchlist is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NO_SUCH_FEED)
    tracks = await watchlists.new_tracks(session, watchlist_id=watchlist_id, limit=FEED_ENTRIES)
    body = render_feed(
        watchlist_id=watchlist.id,
        name=watchlist.name,
        created_at=watchlist.created_at,
        self_url=str(request.url),
        tracks=tracks,
    )
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type=ATOM_MEDIA_TYPE, headers=headers)
