"""Enrichment: match collected tracks on Spotify (ISRC first, then title/artist search) and store the result.

Per track: one `isrc:` search, a `track:"…" artist:"…"` search only when the ISRC finds nothing usable, then
`GET /artists/{id}` for each credited artist whose Spotify object is not cached yet (never the batch
endpoints, which answer 403 to Development-Mode apps). Each track is stored in its own transaction as soon as
it is decided, misses included, so a run that stops early keeps everything it did and a later run asks
Spotify nothing about tracks already checked.

A quota stop (QUOTA_EXCEEDED, or a Retry-After too long to wait in-call) ends the batch: the summary names
when Spotify allows requests again and the tracks left, and `resume` (if given) schedules them for then.
The stop is shared through `quota` (a Redis cooldown per Spotify app): until it ends, every enrichment task
pauses the same way before sending a request, instead of each spending one on another 429.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.spotify_matches import (
    ArtistCredit,
    CachedArtist,
    TrackForEnrichment,
    cached_artists,
    count_selection,
    save_artist,
    save_match,
    save_miss,
    select_tracks,
)
from app.services.enrichment_request import (
    EnrichmentSummary,
    EnrichRequest,
    ScheduleResume,
    track_to_match,
)
from app.services.progress import CancelCheck, ReportProgress, never_cancelled, no_progress
from app.services.spotify_matching import (
    MatchResult,
    artist_fields,
    artist_name_keys,
    build_search_query,
    isrc_query,
    match_by_isrc,
    match_by_search,
    track_fields,
)
from app.services.spotify_quota import quota_in_force, resume_after, share_quota_stop
from app.sources.cooldown import Cooldown
from app.sources.spotify import SpotifyClient, SpotifyNotFound, SpotifyQuotaExceeded

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 10  # the most a Development Mode app may ask for
# Share of the task's time budget after which the rest is handed to a follow-up task, so a large selection
# (2 requests/s is ~7,000 tracks an hour) continues instead of ending in a TimeoutError. Sooner if the next
# track might not fit: twice the slowest track so far must still fit in the budget.
HAND_OVER_AT = 0.9
SELECTION_CHUNK = 500  # tracks loaded per query


class EnrichmentService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: SpotifyClient,
        progress: ReportProgress = no_progress,
        is_cancelled: CancelCheck = never_cancelled,
        resume: ScheduleResume | None = None,
        quota: Cooldown | None = None,
        task_timeout_seconds: float | None = None,
        selection_chunk: int = SELECTION_CHUNK,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._progress = progress
        self._is_cancelled = is_cancelled
        self._resume = resume
        self._quota = quota
        self._chunk = selection_chunk
        self._timeout = task_timeout_seconds
        # Per run: Spotify artist objects known (fetched now or cached in the database), and our artists'
        # current Spotify links (seeded from the selection, updated as matches are stored).
        self._artists: dict[str, CachedArtist] = {}
        self._links: dict[int, str | None] = {}

    async def enrich(
        self,
        *,
        track_ids: list[int] | None = None,
        only_missing: bool = True,
        limit: int | None = None,
        force: bool = False,
        after_id: int | None = None,
    ) -> EnrichmentSummary:
        """Check the selected tracks on Spotify and store each decision.

        Selection (see `select_tracks`): `track_ids` or every track; never-checked tracks always, matched
        ones only with `only_missing=False`, recorded misses only with `force=True`; at most `limit`; in id
        order after `after_id` (where a follow-up task continues). Tracks are loaded a chunk at a time.
        """
        request = EnrichRequest(
            track_ids=track_ids, only_missing=only_missing, force=force, limit=limit, after_id=after_id
        )
        summary = EnrichmentSummary()
        started = time.monotonic()
        requests_before = self._client.requests_made
        self._artists = {}
        self._links = {}
        async with self._sessions() as session:
            counted = await count_selection(
                session, track_ids=track_ids, only_missing=only_missing, force=force, after_id=after_id
            )
        total = counted.selectable if limit is None else min(limit, counted.selectable)
        summary.skipped_already_enriched = counted.skipped_already_enriched
        summary.tracks_selected = total
        await self._progress(done=0, total=total, message=f"0/{total} tracks checked on Spotify")
        last_done = after_id  # the cursor: every selected track up to here has been decided
        slowest_track = 0.0
        try:
            async with contextlib.aclosing(self._selected(request, total=total)) as selected:
                async for track in selected:
                    left = total - summary.tracks_considered
                    if await self._is_cancelled():
                        summary.cancelled = True
                        self._note_remaining(summary, remaining=left, after_id=last_done)
                        break
                    elapsed = time.monotonic() - started
                    # At least one track per task, so a follow-up always makes progress.
                    if summary.tracks_considered > 0 and self._out_of_time(elapsed, slowest_track):
                        summary.paused_reason = (
                            f"time budget: stopped after {elapsed:.1f} s of this task's {self._timeout:.0f} s; "
                            f"{left} tracks continue in a follow-up task"
                        )
                        logger.info("enrichment %s", summary.paused_reason)
                        await self._hand_over(
                            summary, request, remaining=left, after_id=last_done, delay_seconds=0
                        )
                        break
                    track_started = time.monotonic()
                    stop = await quota_in_force(self._quota)
                    if stop is None:
                        try:
                            await self._enrich_one(track, summary)
                        except SpotifyQuotaExceeded as error:
                            stop = error
                            await share_quota_stop(self._quota, error)  # every other task stops asking too
                    if stop is not None:
                        await self._pause(stop, summary, request, remaining=left, after_id=last_done)
                        break
                    last_done = track.id
                    slowest_track = max(slowest_track, time.monotonic() - track_started)
                    summary.tracks_considered += 1
                    done = summary.tracks_considered
                    matched = summary.matched_isrc + summary.matched_search
                    await self._progress(
                        done=done,
                        total=total,
                        message=f"{done}/{total} tracks checked on Spotify ({matched} matched, "
                        f"{summary.unmatched} not found)",
                    )
        finally:
            summary.requests_made = self._client.requests_made - requests_before
        return summary

    async def _selected(
        self, request: EnrichRequest, *, total: int
    ) -> AsyncGenerator[TrackForEnrichment, None]:
        """The selection in id order, a chunk of tracks per query, so memory does not grow with it."""
        cursor, given = request.after_id, 0
        while given < total:
            async with self._sessions() as session:
                chunk = await select_tracks(
                    session,
                    track_ids=request.track_ids,
                    only_missing=request.only_missing,
                    force=request.force,
                    after_id=cursor,
                    limit=min(self._chunk, total - given),
                )
            if not chunk:
                return
            for track in chunk:
                for credit in (*track.artists, *track.remixers):
                    self._links.setdefault(credit.id, credit.spotify_id)
            for track in chunk:
                yield track
                given += 1
            cursor = chunk[-1].id

    def _out_of_time(self, elapsed: float, slowest_track: float) -> bool:
        if self._timeout is None:
            return False
        return elapsed > self._timeout * HAND_OVER_AT or elapsed + 2 * slowest_track > self._timeout

    async def _pause(
        self,
        error: SpotifyQuotaExceeded,
        summary: EnrichmentSummary,
        request: EnrichRequest,
        *,
        remaining: int,
        after_id: int | None,
    ) -> None:
        resume_at, delay_seconds = resume_after(error)
        summary.paused_until = resume_at.isoformat()
        summary.paused_reason = str(error)
        logger.warning(
            "Spotify quota stop with %d tracks left (resume at %s): %s",
            remaining,
            summary.paused_until,
            error,
        )
        await self._hand_over(
            summary,
            request,
            remaining=remaining,
            after_id=after_id,
            delay_seconds=delay_seconds,
        )

    @staticmethod
    def _note_remaining(summary: EnrichmentSummary, *, remaining: int, after_id: int | None) -> None:
        summary.remaining_tracks = remaining
        summary.continue_after_id = after_id

    async def _hand_over(
        self,
        summary: EnrichmentSummary,
        request: EnrichRequest,
        *,
        remaining: int,
        after_id: int | None,
        delay_seconds: int,
    ) -> None:
        """Record what is left and, when a `resume` is given, enqueue the same request after the cursor."""
        self._note_remaining(summary, remaining=remaining, after_id=after_id)
        if self._resume is None:
            return
        follow_up = dataclasses.replace(
            request, limit=None if request.limit is None else remaining, after_id=after_id
        )
        summary.resumed_by_task_id = await self._resume(follow_up, delay_seconds=delay_seconds)
        logger.info("remaining tracks enqueued as task %s", summary.resumed_by_task_id)

    async def _enrich_one(self, track: TrackForEnrichment, summary: EnrichmentSummary) -> None:
        wanted = track_to_match(track)
        match: MatchResult | None = None
        if wanted.isrc:
            items = await self._client.search_tracks(isrc_query(wanted.isrc), limit=SEARCH_LIMIT)
            match = match_by_isrc(wanted, items)
        if match is None and wanted.artists and wanted.title.strip():
            items = await self._client.search_tracks(build_search_query(wanted), limit=SEARCH_LIMIT)
            match = match_by_search(wanted, items)
        if match is None:
            async with self._sessions.begin() as session:
                await save_miss(session, track_id=track.id, now=utcnow())
            summary.unmatched += 1
            return

        # Artists first, stored with the match in one transaction. If the quota stops us in between, the
        # track is not stored (it is checked again on resume) but the artist objects fetched so far are.
        links = self._artist_links(track, match.item)
        fetched = await self._fetch_artists(links, summary)
        async with self._sessions.begin() as session:
            for spotify_id, cached in fetched.items():
                await save_artist(session, spotify_id=spotify_id, artist_ids=links[spotify_id], cached=cached)
            await save_match(
                session,
                track_id=track.id,
                fields=track_fields(match.item),
                method=match.method,
                score=match.score,
                artist_links={sid: (ids, self._artists[sid]) for sid, ids in links.items()},
                now=utcnow(),
            )
        for spotify_id, artist_ids in links.items():
            for artist_id in artist_ids:
                if self._links.get(artist_id) is None:
                    self._links[artist_id] = spotify_id
        if match.method == "isrc":
            summary.matched_isrc += 1
        else:
            summary.matched_search += 1

    async def _fetch_artists(
        self, links: dict[str, list[int]], summary: EnrichmentSummary
    ) -> dict[str, CachedArtist]:
        """Make every linked Spotify artist known: from this run, the database cache, or one GET /artists/{id}.

        Returns those fetched now, for the caller to store with the track. Should a request fail part-way
        (a quota stop), the ones already fetched are stored before the error goes on: never fetched twice.
        """
        unknown = [sid for sid in links if sid not in self._artists]
        if unknown:
            async with self._sessions() as session:
                self._artists.update(await cached_artists(session, spotify_ids=unknown))
        fetched: dict[str, CachedArtist] = {}
        try:
            for spotify_id in links:
                if spotify_id in self._artists:
                    continue
                try:
                    genres = artist_fields(await self._client.get_artist(spotify_id))["genres"]
                except SpotifyNotFound:
                    genres = None  # credited on a track item but gone: cache "unknown" rather than ask again
                    logger.info("Spotify artist %s not found; cached as unknown", spotify_id)
                fetched[spotify_id] = self._artists[spotify_id] = CachedArtist(
                    genres=genres, fetched_at=utcnow()
                )
                summary.artists_fetched += 1
        except Exception:
            if fetched:
                async with self._sessions.begin() as session:
                    for spotify_id, cached in fetched.items():
                        await save_artist(
                            session, spotify_id=spotify_id, artist_ids=links[spotify_id], cached=cached
                        )
            raise
        return fetched

    def _artist_links(self, track: TrackForEnrichment, item: dict[str, Any]) -> dict[str, list[int]]:
        """Spotify artist id → our credited artists (artists and remixers) with the same name.

        An artist of ours already linked to a different Spotify artist keeps that link and is left out.
        """
        by_name: dict[str, str] = {}
        spotify_artists = item.get("artists")
        for artist in spotify_artists if isinstance(spotify_artists, list) else []:
            if isinstance(artist, dict) and artist.get("id") and isinstance(artist.get("name"), str):
                for key in artist_name_keys(artist["name"]):
                    by_name.setdefault(key, str(artist["id"]))
        links: dict[str, list[int]] = {}
        for credit in _unique_credits((*track.artists, *track.remixers)):
            spotify_id = next((by_name[k] for k in artist_name_keys(credit.name) if k in by_name), None)
            if spotify_id is None:
                continue
            current = self._links.get(credit.id, credit.spotify_id)
            if current is not None and current != spotify_id:
                continue
            links.setdefault(spotify_id, []).append(credit.id)
        return links


def _unique_credits(credits: Iterable[ArtistCredit]) -> list[ArtistCredit]:
    seen: set[int] = set()
    unique = []
    for credit in credits:
        if credit.id not in seen:
            seen.add(credit.id)
            unique.append(credit)
    return unique
