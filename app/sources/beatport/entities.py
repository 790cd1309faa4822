"""Plain data parsed from Beatport: what parsers return and the collection service stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class TargetKind(StrEnum):
    GENRE_TOP100 = "genre_top100"
    TOP100 = "top100"
    CHART = "chart"
    RELEASE = "release"
    TRACK = "track"
    LABEL_TRACKS = "label_tracks"
    ARTIST_TRACKS = "artist_tracks"


@dataclass(frozen=True, slots=True)
class BeatportGenre:
    id: int
    name: str
    slug: str | None = None


@dataclass(frozen=True, slots=True)
class BeatportLabel:
    id: int
    name: str
    slug: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class BeatportRelease:
    id: int
    name: str
    slug: str | None = None
    image_url: str | None = None  # cover art (release.image), not the track's waveform image
    label: BeatportLabel | None = None


@dataclass(frozen=True, slots=True)
class BeatportArtist:
    id: int
    name: str
    slug: str | None = None


@dataclass(frozen=True, slots=True)
class BeatportTrack:
    id: int
    name: str
    mix_name: str | None = None
    slug: str | None = None
    artists: tuple[BeatportArtist, ...] = ()
    remixers: tuple[BeatportArtist, ...] = ()
    bpm: int | None = None
    key_name: str | None = None  # e.g. "Db Major"
    camelot: str | None = None  # e.g. "3B"
    genre: BeatportGenre | None = None
    sub_genre: BeatportGenre | None = None
    release: BeatportRelease | None = None
    isrc: str | None = None
    catalog_number: str | None = None
    length_ms: int | None = None
    publish_date: dt.date | None = None
    new_release_date: dt.date | None = None
    sample_url: str | None = None
    is_explicit: bool | None = None
    price_value: Decimal | None = None
    price_currency: str | None = None

    @property
    def label(self) -> BeatportLabel | None:
        return self.release.label if self.release else None


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One Beatport page's tracks, in page order.

    `positions` is set for chart-like pages (Top 100s, charts): position i belongs to tracks[i].
    `total_count`/`page`/`per_page` come from the paginated query envelope when the page has one.
    """

    kind: TargetKind
    tracks: tuple[BeatportTrack, ...]
    title: str | None = None
    positions: tuple[int, ...] | None = None
    total_count: int | None = None
    page: int | None = None
    per_page: int | None = None
    build_id: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def single_track(
        cls, track: BeatportTrack, *, build_id: str | None = None, extra: dict[str, object] | None = None
    ) -> ParsedPage:
        """A track page: one track, a page of one."""
        return cls(
            kind=TargetKind.TRACK,
            tracks=(track,),
            title=track.name,
            total_count=1,
            page=1,
            per_page=1,
            build_id=build_id,
            extra=extra or {},
        )
