"""What the read side gives out: a track and the entities it names, declared once, as the API shows them.

The repository (app.db.track_queries) builds these and the routes return them unchanged, so a field is added
or renamed in one place. Instances are frozen: the tracks of one list share their genre, label and release
objects.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, computed_field


class ReadModel(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class NamedRef(ReadModel):
    """A genre, sub-genre, label or artist as a track names it."""

    id: int
    name: str
    slug: str | None


class ReleaseRef(NamedRef):
    image_url: str | None


class CreditedArtist(NamedRef):
    """An artist or remixer of one track, with what Spotify says about them."""

    spotify_id: str | None
    spotify_genres: list[str] | None


class LabelDetail(NamedRef):
    image_url: str | None


class ReleaseDetail(ReleaseRef):
    label: LabelDetail | None


class ChartPosition(ReadModel):
    chart_key: str
    title: str | None
    collected_at: dt.datetime
    position: int
    snapshot_id: int


class SpotifyMatch(ReadModel):
    """The track on Spotify: what the match found, and how it was matched."""

    # Read from the track row, where each field is stored as `spotify_<name>`.
    model_config = ConfigDict(alias_generator=AliasGenerator(validation_alias=lambda name: f"spotify_{name}"))

    id: str | None
    url: str | None
    album_id: str | None
    album_name: str | None
    album_type: str | None
    album_release_date: str | None
    duration_ms: int | None
    explicit: bool | None
    popularity: int | None
    match_method: str | None = Field(
        description="isrc | search | none (searched, no match) | manual (set through the API); null: not tried"
    )
    match_score: float | None
    enriched_at: dt.datetime | None
    match_locked_by: str | None = Field(
        description="the API key that set a manual match (or 'not on Spotify'); no enrichment changes it"
    )
    match_locked_at: dt.datetime | None


class TrackBase(ReadModel):
    """The Beatport fields of a track, shown in a list and in full; credits in credited order."""

    id: int
    name: str
    mix_name: str | None
    slug: str | None
    artists: tuple[NamedRef, ...]
    remixers: tuple[NamedRef, ...]
    bpm: int | None
    key_name: str | None
    camelot: str | None
    genre: NamedRef | None
    sub_genre: NamedRef | None
    label: NamedRef | None
    release: ReleaseRef | None
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


class TrackRead(TrackBase):
    """A track in a list or export: Beatport fields, credits in order, and whether Spotify matched it."""

    spotify_id: str | None
    spotify_url: str | None
    spotify_match_method: str | None = Field(
        description="how the match was made: isrc, search, manual, or none (searched, not found); null: never "
        "searched"
    )
    spotify_match_score: float | None = Field(description="the search match's score (0–1); for match review")

    @computed_field  # type: ignore[prop-decorator]  # mypy does not know pydantic's decorated properties
    @property
    def enriched(self) -> bool:
        return self.spotify_id is not None


class WatchlistTrackRead(TrackRead):
    """A track new to a watchlist: when a run of the watchlist first stored it, and which run."""

    first_seen_at: dt.datetime
    run_id: str = Field(description="the run_watchlist task that stored it first")


class TrackDetailRead(TrackBase):
    """One track in full: credited artists with their Spotify data, label and release in full, Spotify fields
    and chart history."""

    artists: tuple[CreditedArtist, ...]
    remixers: tuple[CreditedArtist, ...]
    label: LabelDetail | None
    release: ReleaseDetail | None
    spotify: SpotifyMatch
    chart_history: tuple[ChartPosition, ...] = Field(
        description="every chart snapshot listing the track, oldest first"
    )


class Paging(BaseModel):
    page: int | None = Field(description="page number; null when paging with a cursor")
    page_size: int
    total: int | None = Field(
        description="tracks matching the filters, counted up to 10,000 (see total_exact); null on cursor pages, "
        "which count nothing; a label or artist name of 1–2 characters is not counted: total is then the "
        "number of tracks up to this page's end, and total_exact false when more follow"
    )
    total_exact: bool = Field(
        description="true: total is the exact number of matching tracks; false: more than total match (a "
        "count stops at 10,000, so deep lists never count every row, and names shorter than 3 characters are not "
        "counted), or a cursor page (total is null)"
    )
    has_more: bool
    next_cursor: str | None = Field(description="pass as `cursor` for the next page (same sort and order)")
    sort: str
    order: str


class TrackPage(BaseModel):
    items: list[TrackRead]
    paging: Paging
