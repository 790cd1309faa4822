"""Mirror a source (a chart, a track query) into a playlist of the connected Spotify account.

The playlist ends up holding exactly the source's tracks that have a Spotify match, once each, in the source's
order, cut at PLAYLIST_MAX_TRACKS (the result says so). Tracks without a match are counted (`unmatched`, of
which `not_yet_checked` were never searched on Spotify), never guessed.

Per run: the source is read from the database; the playlist is the one given, else the one this source went to
last (remembered per Spotify user), else a new private one. What it holds is read from Spotify only when its
snapshot_id differs from the one the last sync left (someone else changed it, or it is new to us); then the
fewest writes (app.services.playlist_plan) are sent and the new snapshot_id and contents remembered. An
unchanged source against an untouched playlist costs one read and no write.

A quota stop (a 429 with a long Retry-After, or QUOTA_EXCEEDED) starts the shared Spotify cooldown (every
worker's enrichments and syncs wait for it) and hands the sync to a follow-up task delayed until then.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import playlist_syncs
from app.db.base import utcnow
from app.errors import PermanentSourceError
from app.services.playlist_plan import PlaylistWrite, plan_playlist
from app.services.playlist_sources import PlaylistSource, SourceTracks
from app.services.progress import CancelCheck, ReportProgress, never_cancelled, no_progress
from app.services.spotify_account import ReconnectSpotify, SpotifyAccounts, SpotifyNotConnected
from app.services.spotify_quota import quota_in_force, resume_after, share_quota_stop
from app.sources.cooldown import Cooldown
from app.sources.spotify import SpotifyNotFound, SpotifyQuotaExceeded
from app.sources.spotify.user_client import SpotifyUserClient, track_uri

logger = logging.getLogger(__name__)

# Kept well under Spotify's own 10,000: a larger mirror is not a DJ's playlist, and each sync may read it all.
PLAYLIST_MAX_TRACKS = 1000


class ScheduleSyncResume(Protocol):
    """Enqueue the same sync to run after `delay_seconds`; returns the new task's id."""

    async def __call__(self, *, delay_seconds: int) -> str: ...


@dataclass
class SyncSummary:
    playlist_id: str | None = None
    playlist_created: bool = False
    added: int = 0
    removed: int = 0
    kept: int = 0
    unmatched: int = 0  # source tracks without a Spotify match
    not_yet_checked: int = 0  # of those, never searched on Spotify (enrich them first)
    duplicates: int = 0  # source tracks matched to a Spotify track listed earlier in the source
    source_tracks: int = 0
    writes: int = 0  # calls that changed the playlist's items (its creation not counted)
    snapshot_id: str | None = None
    note: str | None = None  # e.g. the source was cut at the size limit
    paused_until: str | None = None
    paused_reason: str | None = None
    resumed_by_task_id: str | None = None
    cancelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _NewPlaylist:
    """What a playlist made for a source is called, and whether anyone may see it (its owner's followers)."""

    name: str
    public: bool


@dataclass(frozen=True)
class _Target:
    playlist_id: str
    created: bool
    snapshot_id: str | None  # as just read (or created)
    known_uris: list[str] | None  # what it holds, when known without reading it


def wanted_uris(source: SourceTracks, summary: SyncSummary, *, limit: int) -> list[str]:
    """The source's matched tracks as URIs, each once, in source order; the rest counted."""
    seen: set[str] = set()
    wanted: list[str] = []
    for track in source.tracks:
        if track.spotify_id is None:
            summary.unmatched += 1
            summary.not_yet_checked += not track.checked
            continue
        uri = track_uri(track.spotify_id)
        if uri in seen:
            summary.duplicates += 1
            continue
        seen.add(uri)
        wanted.append(uri)
    summary.source_tracks = len(source.tracks)
    if source.more:
        summary.note = f"the source holds more than {limit} tracks: its first {limit} were mirrored (the playlist size limit)"
    return wanted


class PlaylistSyncService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        accounts: SpotifyAccounts,
        client: SpotifyUserClient,
        progress: ReportProgress = no_progress,
        is_cancelled: CancelCheck = never_cancelled,
        quota: Cooldown | None = None,
        resume: ScheduleSyncResume | None = None,
        max_tracks: int = PLAYLIST_MAX_TRACKS,
    ) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._client = client
        self._progress = progress
        self._is_cancelled = is_cancelled
        self._quota = quota
        self._resume = resume
        self._max_tracks = max_tracks

    async def sync(
        self, *, source: dict[str, Any], playlist_id: str | None, name: str | None, public: bool = False
    ) -> SyncSummary:
        parsed = PlaylistSource.of(source)
        summary = SyncSummary()
        account = await self._accounts.status()
        if account is None:
            raise SpotifyNotConnected()
        if account.needs_reconsent:
            raise ReconnectSpotify(account.reconsent_reason or "refused earlier")
        user_id = account.spotify_user_id
        await self._progress(done=0, total=None, message="reading the source")
        async with self._sessions() as session:
            tracks = await parsed.resolver.read(session, parsed.value, limit=self._max_tracks)
            remembered = await playlist_syncs.get_sync(
                session, spotify_user_id=user_id, source_key=parsed.key
            )
            last = (
                (remembered.playlist_id, remembered.snapshot_id, list(remembered.uris))
                if remembered
                else None
            )
        wanted = wanted_uris(tracks, summary, limit=self._max_tracks)
        stop = await quota_in_force(self._quota)
        if stop is None:
            try:
                new = _NewPlaylist(name=name or tracks.title, public=public)
                target = await self._target(parsed, user_id, playlist_id, new, last)
                summary.playlist_id, summary.playlist_created = target.playlist_id, target.created
                await self._mirror(parsed, user_id, target, wanted, summary)
            except SpotifyQuotaExceeded as error:
                stop = error
                await share_quota_stop(self._quota, error)  # every other Spotify task stops asking too
        if stop is not None:
            await self._pause(stop, summary)
        return summary

    # -- the playlist ------------------------------------------------------------------------------------------
    async def _target(
        self,
        source: PlaylistSource,
        user_id: str,
        playlist_id: str | None,
        new: _NewPlaylist,
        last: tuple[str, str | None, list[str]] | None,
    ) -> _Target:
        """The playlist to write: the one given, else the one this source went to last, else a new one."""
        chosen = playlist_id or (last[0] if last else None)
        if chosen is not None:
            try:
                found = await self._client.playlist(chosen)
            except SpotifyNotFound:
                if playlist_id is not None:
                    raise PermanentSourceError(
                        f"Spotify playlist {playlist_id} does not exist (or was deleted)"
                    ) from None
                logger.info("playlist %s of source %s is gone; making a new one", chosen, source.key)
            else:
                owner = (found.get("owner") or {}).get("id")
                if owner != user_id:
                    raise PermanentSourceError(
                        f"Spotify playlist {chosen} belongs to {owner!r}, not to the connected account "
                        f"{user_id!r}: Cratedigger writes only to the account's own playlists"
                    )
                snapshot = found.get("snapshot_id")
                untouched = (
                    last is not None and last[0] == chosen and last[1] is not None and last[1] == snapshot
                )
                known = last[2] if untouched and last is not None else None
                return _Target(chosen, created=False, snapshot_id=snapshot, known_uris=known)
        created = await self._client.create_playlist(
            new.name[:100], public=new.public, description=f"Mirrored by Cratedigger [{source.key}]"
        )
        new_id = str(created["id"])
        await self._remember(source, user_id, new_id, snapshot_id=None, uris=[])  # a retry reuses it
        return _Target(new_id, created=True, snapshot_id=created.get("snapshot_id"), known_uris=[])

    async def _mirror(
        self, source: PlaylistSource, user_id: str, target: _Target, wanted: list[str], summary: SyncSummary
    ) -> None:
        await self._progress(done=0, total=None, message="reading the playlist")
        current = target.known_uris
        if current is None:
            current = await self._client.playlist_uris(target.playlist_id)
        plan = plan_playlist(current, wanted)
        summary.added, summary.removed, summary.kept = plan.added, plan.removed, plan.kept
        snapshot = target.snapshot_id
        for done, write in enumerate(plan.writes):
            if await self._is_cancelled():
                summary.cancelled = True
                break
            await self._progress(
                done=done,
                total=len(plan.writes),
                message=f"writing the playlist ({done}/{len(plan.writes)} calls)",
            )
            summary.writes += 1
            try:
                snapshot = await self._send(target.playlist_id, write)
            except Exception:  # a retry reads the playlist again: what it holds is not known now
                await self._remember(source, user_id, target.playlist_id, snapshot_id=None, uris=wanted)
                raise
        summary.snapshot_id = None if summary.cancelled else snapshot
        await self._remember(
            source, user_id, target.playlist_id, snapshot_id=summary.snapshot_id, uris=wanted
        )
        await self._progress(
            done=len(plan.writes),
            total=len(plan.writes),
            message=f"{summary.added} added, {summary.removed} removed, {summary.kept} kept, "
            f"{summary.unmatched} without a Spotify match",
        )

    async def _send(self, playlist_id: str, write: PlaylistWrite) -> str:
        uris = list(write.uris)
        if write.kind == "replace":
            return await self._client.replace_items(playlist_id, uris)
        if write.kind == "add":
            return await self._client.add_items(playlist_id, uris, position=write.position)
        return await self._client.remove_items(playlist_id, uris)

    async def _remember(
        self,
        source: PlaylistSource,
        user_id: str,
        playlist_id: str,
        *,
        snapshot_id: str | None,
        uris: list[str],
    ) -> None:
        async with self._sessions.begin() as session:
            await playlist_syncs.remember_sync(
                session,
                spotify_user_id=user_id,
                source_key=source.key,
                source=source.as_json(),
                playlist_id=playlist_id,
                snapshot_id=snapshot_id,
                uris=uris,
                now=utcnow(),
            )

    async def _pause(self, error: SpotifyQuotaExceeded, summary: SyncSummary) -> None:
        resume_at, delay_seconds = resume_after(error)
        summary.paused_until = resume_at.isoformat()
        summary.paused_reason = str(error)
        logger.warning(
            "playlist sync paused by a Spotify quota stop until %s: %s", summary.paused_until, error
        )
        if self._resume is not None:
            summary.resumed_by_task_id = await self._resume(delay_seconds=delay_seconds)
