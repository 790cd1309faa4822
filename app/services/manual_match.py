"""Manual Spotify matches (contract, second part: "Catalogue"): a person decides a track's Spotify match, or
that it is not on Spotify, and the decision is locked against every enrichment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import spotify_matches
from app.services.spotify_matching import track_fields
from app.services.spotify_quota import quota_in_force, share_quota_stop
from app.sources.cooldown import Cooldown
from app.sources.spotify import SpotifyClient, SpotifyQuotaExceeded


class TrackNotFoundError(LookupError):
    pass


class ManualMatchService:
    """Looks the Spotify track up through the caller's client (the shared pacing), and honours the shared
    quota stop: while one lasts no request is sent and SpotifyQuotaExceeded is raised."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: SpotifyClient | None,
        quota: Cooldown | None = None,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._quota = quota

    async def set_match(self, *, track_id: int, spotify_id: str | None, locked_by: str) -> None:
        """Lock `track_id` to `spotify_id`, or to "not on Spotify" (None). Raises TrackNotFoundError, and for a
        Spotify id Spotify does not know SpotifyNotFound (a PermanentSourceError)."""
        async with self._sessions() as session:
            if not await spotify_matches.track_exists(session, track_id=track_id):
                raise TrackNotFoundError(track_id)
        fields = None
        if spotify_id is not None:
            assert self._client is not None, "a Spotify client is needed to look a match up"
            stop = await quota_in_force(self._quota)
            if stop is not None:
                raise stop
            try:
                item = await self._client.get_track(spotify_id)
            except SpotifyQuotaExceeded as error:
                await share_quota_stop(self._quota, error)
                raise
            fields = track_fields(item)
        async with self._sessions.begin() as session:
            stored = await spotify_matches.save_manual_decision(
                session, track_id=track_id, fields=fields, locked_by=locked_by, now=dt.datetime.now(dt.UTC)
            )
        if not stored:  # deleted meanwhile
            raise TrackNotFoundError(track_id)

    async def clear_match(self, *, track_id: int) -> None:
        async with self._sessions.begin() as session:
            if not await spotify_matches.clear_manual_decision(session, track_id=track_id):
                raise TrackNotFoundError(track_id)
