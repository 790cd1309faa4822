"""`POST /playlists/sync`: mirror a chart or a track query into a playlist of the connected Spotify account (a
task like any other). The request body is also a schedule's `sync` action."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from app.api.access import WRITE
from app.api.collect_routes import accepted
from app.api.deps import ResourcesDep, RuntimeDep
from app.api.input_types import INT4_MAX, BeatportId, BodyText, Flag, IsoDate
from app.api.responses import error_responses
from app.api.schemas import TaskAccepted, exactly_one_of, refuse_nulls
from app.config import Settings
from app.db.track_filters import MatchMethod
from app.db.track_paging import SortField, SortOrder
from app.services.playlist_sources import PlaylistSource, SourceUnavailable
from app.services.resources import Resources
from app.services.spotify_account import missing_account_settings
from app.tasks.playlist_tasks import sync_spotify_playlist_task

router = APIRouter(prefix="/playlists", tags=["spotify playlists"])

ChartKeyText = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
SpotifyPlaylistId = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9A-Za-z]{22}$")]
PlaylistName = Annotated[BodyText, StringConstraints(max_length=100)]
DUPLICATE_NOTE = (
    "A sync of the same source into the same playlist is already queued or running: this is its task."
)


# GET /tracks' filters, sort and order as JSON (JSON types: numbers as numbers, dates as YYYY-MM-DD text).
class TrackSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    genre: BodyText | BeatportId | None = None
    label: BodyText | BeatportId | None = None
    artist: BodyText | BeatportId | None = None
    bpm_min: Annotated[StrictInt | None, Field(ge=0, le=999)] = None
    bpm_max: Annotated[StrictInt | None, Field(ge=0, le=999)] = None
    key: BodyText | None = None
    isrc: BodyText | None = None
    enriched: Flag | None = None
    published_from: IsoDate | None = None
    published_to: IsoDate | None = None
    match_method: MatchMethod | None = None
    match_score_lt: Annotated[StrictFloat | StrictInt | None, Field(ge=0, le=1)] = None
    sort: SortField = "id"
    order: SortOrder = "asc"


class SyncSource(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=exactly_one_of("chart_key", "watchlist_id", "tracks")
    )

    chart_key: ChartKeyText | None = Field(
        None, description="a chart as GET /charts lists it: its latest snapshot"
    )
    watchlist_id: Annotated[StrictInt | None, Field(ge=1, le=INT4_MAX)] = Field(
        None, description="a watchlist: its new tracks, newest first"
    )
    tracks: TrackSelection | None = Field(None, description="GET /tracks' filters, sort and order")

    @model_validator(mode="before")
    @classmethod
    def _no_null_kind(cls, data: Any) -> Any:
        return refuse_nulls(data, "chart_key", "watchlist_id", "tracks")

    @model_validator(mode="after")
    def _one_kind(self) -> SyncSource:
        if sum(value is not None for value in (self.chart_key, self.watchlist_id, self.tracks)) != 1:
            raise ValueError(
                'give exactly one of "chart_key", "watchlist_id" or "tracks", e.g. '
                '{"chart_key": "genre-top-100-11"} or {"tracks": {"genre": "tech-house", "sort": "publish_date"}}'
            )
        return self

    def as_json(self) -> dict[str, Any]:
        if self.tracks is not None:
            selection = self.tracks.model_dump(mode="json", exclude_none=True)
            return {
                "tracks": {
                    name: str(v) if name in ("genre", "label", "artist") else v
                    for name, v in selection.items()
                }
            }
        return self.model_dump(mode="json", exclude_none=True)


class PlaylistSyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: SyncSource
    playlist_id: SpotifyPlaylistId | None = Field(
        None,
        description="a playlist of the connected account (default: the one this source went to last, "
        "else a new private playlist)",
    )
    name: PlaylistName | None = Field(None, description="the name of a new playlist")
    public: StrictBool = Field(
        False, description="a new playlist is public (shown on the account's profile); default private"
    )

    def task_kwargs(self) -> dict[str, Any]:
        kwargs = {"source": self.source.as_json(), "playlist_id": self.playlist_id, "name": self.name}
        # `public` only when asked: a private sync's arguments stay those of schedules made before it existed.
        return {**kwargs, "public": True} if self.public else kwargs

    def describe(self) -> str:
        source = self.source
        what = f"chart {source.chart_key}" if source.chart_key else "a track query"
        into = f" into playlist {self.playlist_id}" if self.playlist_id else ""
        return f"Spotify playlist sync of {what}{into}"


def check_sync_settings(settings: Settings) -> None:
    missing = missing_account_settings(settings)
    if missing:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Spotify playlists are not configured: set {' and '.join(missing)} and restart the api and worker.",
        )


def refused_source(error: SourceUnavailable) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error))


def validate_source(source: dict[str, Any]) -> None:
    """422 for a source that can never be mirrored (a schedule's: its chart may not be collected yet)."""
    try:
        parsed = PlaylistSource.of(source)
        parsed.resolver.validate(parsed.value)
    except SourceUnavailable as error:
        raise refused_source(error) from error


async def check_source(resources: Resources, source: dict[str, Any]) -> None:
    """422 for a source that cannot be mirrored now (a chart never collected, too)."""
    try:
        parsed = PlaylistSource.of(source)
        async with resources.sessions() as session:
            await parsed.resolver.check(session, parsed.value)
    except SourceUnavailable as error:
        raise refused_source(error) from error


@router.post(
    "/sync",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WRITE],
    responses={
        200: {"model": TaskAccepted, "description": "The same sync is already queued or running"},
        **error_responses(409),
    },
)
async def sync_playlist(
    body: PlaylistSyncRequest,
    request: Request,
    response: Response,
    resources: ResourcesDep,
    runtime: RuntimeDep,
) -> TaskAccepted:
    """Make a playlist of the connected Spotify account hold exactly the source's tracks that have a Spotify
    match, in the source's order (a chart's positions, the query's sort), with the fewest writes. The task's
    result counts `added`, `removed`, `kept`, `unmatched` and names the `playlist_id`."""
    kwargs = body.task_kwargs()
    validate_source(kwargs["source"])  # what can never be mirrored first, whatever the configuration
    check_sync_settings(resources.settings)
    account = await resources.spotify_accounts().status()
    if account is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="No Spotify account is connected: an admin connects one with GET /auth/spotify/login.",
        )
    if account.needs_reconsent:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"Spotify no longer accepts the stored authorization ({account.reconsent_reason}): reconnect "
            "Spotify with GET /auth/spotify/login.",
        )
    await check_source(resources, kwargs["source"])
    task_id, created = await runtime.enqueuer.enqueue_once(sync_spotify_playlist_task, **kwargs)
    return accepted(request, response, task_id, created=created, note=DUPLICATE_NOTE)
