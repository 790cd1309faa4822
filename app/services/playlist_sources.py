"""What a playlist can mirror: one resolver per source kind, each turning the source as the API was given it
(`{"chart_key": …}`, `{"tracks": {<GET /tracks filters, sort, order>}}`, `{"watchlist_id": …}`) into a stable
key (which playlist it went to is remembered by it), a title, and its tracks in the source's order.

* `chart_key`: the chart's latest snapshot, by position.
* `tracks`: the catalogue query, in its sort (default: by id).
* `watchlist_id`: the tracks new to the watchlist, newest first (GET /watchlists/{id}/tracks).

A new kind is a class with `kind`, `key`, `check` and `read`, added to `RESOLVERS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import playlist_syncs, watchlists
from app.db.playlist_syncs import SourceTrack
from app.db.track_filters import TrackFilters, TrackQueryError
from app.db.track_paging import TrackSort
from app.errors import CratediggerError
from app.sources.beatport.targets import chart_target

FILTER_NAMES = tuple(field.name for field in fields(TrackFilters))
_DATE_FILTERS = ("published_from", "published_to")


class SourceUnavailable(CratediggerError):
    """A source that cannot be mirrored (unknown chart, invalid filters, a kind not available yet)."""


@dataclass(frozen=True)
class SourceTracks:
    title: str
    tracks: list[SourceTrack]  # in the source's order, at most the limit asked for
    more: bool  # the source holds more tracks than were read


class SourceResolver(Protocol):
    kind: str

    def key(self, value: Any) -> str: ...
    def validate(self, value: Any) -> None:
        """SourceUnavailable for a source that can never be mirrored (a schedule's sync is checked so: it may
        name a chart its own collect step has not collected yet)."""

    async def check(self, session: AsyncSession, value: Any) -> None:
        """`validate`, and SourceUnavailable for a source with nothing to read yet."""

    async def read(self, session: AsyncSession, value: Any, *, limit: int) -> SourceTracks: ...


class ChartSource:
    kind = "chart_key"

    def key(self, value: Any) -> str:
        return f"chart:{value}"

    def validate(self, value: Any) -> None:
        if chart_target(str(value)) is None:
            raise SourceUnavailable(f"{value!r} is not a chart key (genre-top-100-11, top-100, chart-900123)")

    async def check(self, session: AsyncSession, value: Any) -> None:
        self.validate(value)
        if not await playlist_syncs.chart_exists(session, chart_key=str(value)):
            raise SourceUnavailable(
                f"No chart with key {value!r} has been collected: GET /charts lists the collected charts"
            )

    async def read(self, session: AsyncSession, value: Any, *, limit: int) -> SourceTracks:
        found = await playlist_syncs.latest_chart_tracks(session, chart_key=str(value), limit=limit)
        if found is None:
            raise SourceUnavailable(f"No chart with key {value!r} has been collected")
        target = chart_target(str(value))
        title = found.title or (target.describe() if target is not None else str(value))
        return SourceTracks(title=f"Beatport · {title}", tracks=found.tracks, more=found.more)


def track_query(value: dict[str, Any]) -> tuple[TrackFilters, TrackSort]:
    """GET /tracks' filters, sort and order from their JSON form (dates as YYYY-MM-DD)."""
    given = {name: value[name] for name in FILTER_NAMES if value.get(name) is not None}
    for name in _DATE_FILTERS:
        if name in given:
            try:
                given[name] = dt.date.fromisoformat(str(given[name]))
            except ValueError as error:
                raise TrackQueryError(name, f"{name} must be a date as YYYY-MM-DD") from error
    return TrackFilters(**given), TrackSort(
        field=value.get("sort") or "id", order=value.get("order") or "asc"
    )


class TrackQuerySource:
    kind = "tracks"

    def key(self, value: Any) -> str:
        canonical = json.dumps(
            {name: item for name, item in sorted(value.items()) if item is not None}, separators=(",", ":")
        )
        return "tracks:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def validate(self, value: Any) -> None:
        try:
            track_query(value)
        except TrackQueryError as error:
            raise SourceUnavailable(f"tracks.{error.field}: {error.message}") from error

    async def check(self, session: AsyncSession, value: Any) -> None:
        self.validate(value)

    async def read(self, session: AsyncSession, value: Any, *, limit: int) -> SourceTracks:
        filters, sort = track_query(value)
        tracks, more = await playlist_syncs.query_tracks(session, filters=filters, sort=sort, limit=limit)
        described = ", ".join(f"{name} {value[name]}" for name in FILTER_NAMES if value.get(name) is not None)
        return SourceTracks(title=f"Cratedigger · {described or 'all tracks'}", tracks=tracks, more=more)


class WatchlistSource:
    kind = "watchlist_id"

    def key(self, value: Any) -> str:
        return f"watchlist:{value}"

    def validate(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:  # the API bounds it too
            raise SourceUnavailable(f"watchlist_id must be the id of a watchlist, not {str(value)[:50]!r}")

    async def check(self, session: AsyncSession, value: Any) -> None:
        self.validate(value)
        if await watchlists.get_watchlist(session, watchlist_id=value) is None:
            raise SourceUnavailable(f"No watchlist with id {value}: GET /watchlists lists them")

    async def read(self, session: AsyncSession, value: Any, *, limit: int) -> SourceTracks:
        watchlist = await watchlists.get_watchlist(session, watchlist_id=value)
        if watchlist is None:
            raise SourceUnavailable(f"No watchlist with id {value} (deleted since the sync was asked for)")
        tracks, more = await playlist_syncs.watchlist_tracks(session, watchlist_id=value, limit=limit)
        return SourceTracks(title=f"Cratedigger · {watchlist.name}", tracks=tracks, more=more)


RESOLVERS: dict[str, SourceResolver] = {
    resolver.kind: resolver for resolver in (ChartSource(), TrackQuerySource(), WatchlistSource())
}


@dataclass(frozen=True)
class PlaylistSource:
    kind: str
    value: Any

    @classmethod
    def of(cls, given: dict[str, Any]) -> PlaylistSource:
        """The source from its JSON form: exactly one known kind."""
        kinds = [name for name in given if name in RESOLVERS]
        if len(kinds) != 1 or len(given) != 1:
            raise SourceUnavailable(f"a source is exactly one of {', '.join(sorted(RESOLVERS))}")
        return cls(kind=kinds[0], value=given[kinds[0]])

    @property
    def resolver(self) -> SourceResolver:
        return RESOLVERS[self.kind]

    @property
    def key(self) -> str:
        return self.resolver.key(self.value)

    def as_json(self) -> dict[str, Any]:
        return {self.kind: self.value}
