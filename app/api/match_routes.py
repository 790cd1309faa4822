"""Match review: set a track's Spotify match by hand, or record that it is not on Spotify (both locked against
every enrichment), and clear such a decision. `GET /tracks?match_method=…&match_score_lt=…` finds the ones to
review."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.access import WRITE, WriteCaller
from app.api.deps import ResourcesDep, SessionDep
from app.api.responses import error_responses
from app.db.read_models import TrackDetailRead
from app.db.track_filters import MAX_ID
from app.db.track_queries import get_track
from app.errors import PermanentSourceError, TransientSourceError
from app.services.manual_match import ManualMatchService, TrackNotFoundError
from app.services.resources import Resources
from app.sources.spotify import SpotifyClient, SpotifyNotFound, SpotifyQuotaExceeded

router = APIRouter(prefix="/tracks", tags=["match review"])

TrackId = Annotated[int, Path(ge=1, le=MAX_ID)]
SpotifyTrackId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{22}$")]
# In the request only: a lookup waits out short 429s, and gives up quickly on a Spotify that is down.
LOOKUP_ATTEMPTS = 2
LOOKUP_MAX_RETRY_AFTER_SECONDS = 5.0
SPOTIFY_DOWN_RETRY_AFTER_SECONDS = 30


class ManualMatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spotify_id: SpotifyTrackId | None = Field(
        description="a Spotify track id (22 characters, as in open.spotify.com/track/<id>), or null for "
        '"not on Spotify"'
    )


def _not_found(track_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No track with id {track_id} has been collected.")


def _unavailable(detail: str, retry_after: float | None) -> HTTPException:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=detail, headers=headers)


async def decide_match(
    resources: Resources, *, track_id: int, spotify_id: str | None, locked_by: str
) -> None:
    settings = resources.settings
    missing = settings.missing_spotify_settings()
    if spotify_id is not None and missing:
        raise _unavailable(
            f"Spotify is not configured: set {' and '.join(missing)} to look matches up.", None
        )
    client = (
        SpotifyClient.from_settings(
            settings,
            limiter=resources.spotify_limiter,
            max_attempts=LOOKUP_ATTEMPTS,
            max_retry_after=LOOKUP_MAX_RETRY_AFTER_SECONDS,
        )
        if spotify_id is not None
        else None
    )
    service = ManualMatchService(sessions=resources.sessions, client=client, quota=resources.spotify_quota)
    try:
        await service.set_match(track_id=track_id, spotify_id=spotify_id, locked_by=locked_by)
    except TrackNotFoundError as error:
        raise _not_found(track_id) from error
    except SpotifyNotFound as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"Spotify has no track with id {spotify_id}: {error}",
        ) from error
    except SpotifyQuotaExceeded as error:
        raise _unavailable(f"Spotify lookup {error}", error.retry_after) from error
    except TransientSourceError as error:
        raise _unavailable(f"Spotify did not answer: {error}", SPOTIFY_DOWN_RETRY_AFTER_SECONDS) from error
    except PermanentSourceError as error:
        raise _unavailable(f"Spotify refused the lookup: {error}", None) from error
    finally:
        if client is not None:
            client.close()


@router.put(
    "/{track_id}/spotify",
    responses={
        **error_responses(404, 503),
        422: {
            **error_responses(422)[422],
            "description": "Invalid input, or a Spotify id Spotify does not know",
        },
    },
)
async def set_spotify_match(
    track_id: TrackId,
    body: ManualMatchBody,
    caller: WriteCaller,
    resources: ResourcesDep,
    session: SessionDep,
) -> TrackDetailRead:
    """Set the track's Spotify match by hand (looked up on Spotify, with the enrichment's pacing and quota), or
    record with `null` that it is not on Spotify. Either is locked: no enrichment changes it, `force` included."""
    await decide_match(resources, track_id=track_id, spotify_id=body.spotify_id, locked_by=caller.name)
    found = await get_track(session, track_id)
    if found is None:
        raise _not_found(track_id)
    return found


@router.delete(
    "/{track_id}/spotify",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    dependencies=[WRITE],
)
async def clear_spotify_match(track_id: TrackId, resources: ResourcesDep) -> Response:
    """Unlock the track and clear its Spotify match: the next enrichment matches it again."""
    service = ManualMatchService(sessions=resources.sessions, client=None)
    try:
        await service.clear_match(track_id=track_id)
    except TrackNotFoundError as error:
        raise _not_found(track_id) from error
    return Response(status_code=status.HTTP_204_NO_CONTENT)
