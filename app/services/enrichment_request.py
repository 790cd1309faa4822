"""What an enrichment is asked (`EnrichRequest`), what it reports (`EnrichmentSummary`), and how a track of
either source (a stored row, a parsed Beatport track) becomes what the matcher compares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from app.services.spotify_matching import TrackToMatch, spotify_artist_name


@dataclass(frozen=True, slots=True)
class EnrichRequest:
    """What a run is asked to check; a follow-up task gets the same request after the last track decided."""

    track_ids: list[int] | None
    only_missing: bool
    force: bool
    limit: int | None
    after_id: int | None

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


class ScheduleResume(Protocol):
    """Enqueue a follow-up task for `request` to run after `delay_seconds`; returns the new task's id."""

    async def __call__(self, request: EnrichRequest, *, delay_seconds: int) -> str: ...


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class MatchableTrack(Protocol):
    """A collected track as the matcher needs it (a stored track, or a parsed Beatport track in the bench)."""

    @property
    def isrc(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def mix_name(self) -> str | None: ...
    @property
    def length_ms(self) -> int | None: ...
    @property
    def artists(self) -> Sequence[_Named]: ...


def track_to_match(track: MatchableTrack) -> TrackToMatch:
    """What is searched on Spotify for `track`: its artists spelled as Spotify spells them."""
    return TrackToMatch(
        isrc=track.isrc,
        title=track.name,
        mix_name=track.mix_name,
        artists=tuple(spotify_artist_name(artist.name) for artist in track.artists),
        duration_ms=track.length_ms,
    )


@dataclass
class EnrichmentSummary:
    tracks_selected: int = 0
    tracks_considered: int = 0  # checked on Spotify in this run (matched or not)
    matched_isrc: int = 0
    matched_search: int = 0
    unmatched: int = 0
    skipped_already_enriched: int = 0
    artists_fetched: int = 0
    requests_made: int = 0
    paused_until: str | None = None
    paused_reason: str | None = None
    remaining_tracks: int = 0  # selected but not checked when the run stopped early
    continue_after_id: int | None = None  # where a follow-up of a run that stopped early starts
    resumed_by_task_id: str | None = None
    cancelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
