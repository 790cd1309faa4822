from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator


class CollectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str | None, Field(min_length=1, max_length=2000)] = None
    genre: str | int | None = None
    max_pages: Annotated[int | None, Field(ge=1, le=200)] = None

    @model_validator(mode="after")
    def _one_target(self) -> CollectRequest:
        if (self.url is None) == (self.genre is None):
            raise ValueError(
                'give exactly one of "url" (a Beatport URL or path) or "genre" (a genre slug or id), '
                'e.g. {"url": "/genre/tech-house/11/top-100"} or {"genre": "tech-house"}'
            )
        return self


# The body of POST /collect/spotify/enrich and of a schedule's enrich action (the service's own request is
# app.services.enrichment.EnrichRequest). A comment, not a docstring: that would change the OpenAPI schema.
class EnrichBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_ids: Annotated[list[Annotated[int, Field(gt=0)]] | None, Field(min_length=1, max_length=10_000)] = (
        None
    )
    only_missing: bool = True
    limit: Annotated[int | None, Field(ge=1, le=100_000)] = None
    force: bool = False


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str
    duplicate_of_active: bool = False
    note: str | None = None


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: str
    task_name: str
    arguments: dict[str, Any] = Field(validation_alias=AliasChoices("kwargs", "arguments"))
    error_type: str
    error_message: str
    traceback: str | None
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    retried_task_id: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    limit: int
    offset: int


# ---- GET /tracks, GET /tracks/{id} ----------------------------------------------------------------------


class ArtistRefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    slug: str | None


class GenreOut(ArtistRefOut):
    pass


class LabelRefOut(ArtistRefOut):
    pass


class ReleaseRefOut(ArtistRefOut):
    image_url: str | None


class TrackOut(BaseModel):
    """A track in a list: Beatport fields, credits in order, and whether Spotify matched it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    mix_name: str | None
    slug: str | None
    artists: list[ArtistRefOut]
    remixers: list[ArtistRefOut]
    bpm: int | None
    key_name: str | None
    camelot: str | None
    genre: GenreOut | None
    sub_genre: GenreOut | None
    label: LabelRefOut | None
    release: ReleaseRefOut | None
    isrc: str | None
    catalog_number: str | None
    length_ms: int | None
    publish_date: dt.date | None
    new_release_date: dt.date | None
    sample_url: str | None
    is_explicit: bool | None
    price_cents: int | None
    price_currency: str | None
    enriched: bool
    spotify_id: str | None
    spotify_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PagingOut(BaseModel):
    page: int | None = Field(description="page number; null when paging with a cursor")
    page_size: int
    total: int = Field(description="tracks matching the filters")
    has_more: bool
    next_cursor: str | None = Field(description="pass as `cursor` for the next page (same sort and order)")
    sort: str
    order: str


class TrackListOut(BaseModel):
    items: list[TrackOut]
    paging: PagingOut


class CreditedArtistOut(ArtistRefOut):
    spotify_id: str | None
    spotify_genres: list[str] | None


class LabelOut(ArtistRefOut):
    image_url: str | None


class ReleaseOut(ReleaseRefOut):
    label: LabelOut | None


class ChartPositionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    chart_key: str
    title: str | None
    collected_at: dt.datetime
    position: int
    snapshot_id: int


class SpotifyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str | None
    url: str | None
    album_id: str | None
    album_name: str | None
    album_type: str | None
    album_release_date: str | None
    duration_ms: int | None
    explicit: bool | None
    popularity: int | None
    match_method: str | None = Field(description="isrc | search | none (searched, no match); null: not tried")
    match_score: float | None
    enriched_at: dt.datetime | None


class TrackDetailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    mix_name: str | None
    slug: str | None
    artists: list[CreditedArtistOut]
    remixers: list[CreditedArtistOut]
    bpm: int | None
    key_name: str | None
    camelot: str | None
    genre: GenreOut | None
    sub_genre: GenreOut | None
    label: LabelOut | None
    release: ReleaseOut | None
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
    spotify: SpotifyOut
    chart_history: list[ChartPositionOut] = Field(
        description="every chart snapshot listing the track, oldest first"
    )
