"""Watchlists and the tracks new to each: the repository the routes, the run and the webhook use.

A track is new to a watchlist the first time a run of that watchlist stores it: `record_first_seen` runs in the
transaction that stores the page, so a page and its first-seen rows exist together, and a retried run (same
run id) finds the rows its earlier attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Watchlist, WatchlistTrack
from app.db.read_models import WatchlistTrackRead
from app.db.track_queries import tracks_by_id
from app.db.upsert import insert_rows


def token_hash(token: str) -> str:
    """Feed tokens are random 256-bit secrets: a fast hash is enough (as for API keys)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewWatchlist:
    name: str
    targets: list[str]  # canonical paths
    max_pages: int | None
    cron: str
    timezone: str
    webhook_url: str | None
    webhook_secret_sealed: str | None
    feed_token_hash: str
    sync: dict[str, Any] | None = (
        None  # {"playlist_id", "name"} of a playlist sync after runs with new tracks
    )


async def create_watchlist(session: AsyncSession, *, new: NewWatchlist) -> Watchlist:
    """Add the watchlist and flush, so it has its id within the caller's transaction."""
    watchlist = Watchlist(**asdict(new))
    session.add(watchlist)
    await session.flush()
    return watchlist


async def get_watchlist(session: AsyncSession, *, watchlist_id: int) -> Watchlist | None:
    return await session.get(Watchlist, watchlist_id, populate_existing=True)


async def list_watchlists(session: AsyncSession) -> Sequence[Watchlist]:
    return (await session.execute(select(Watchlist).order_by(Watchlist.id))).scalars().all()


async def count_watchlists(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Watchlist))).scalar_one())


async def delete_watchlist(session: AsyncSession, *, watchlist_id: int) -> bool:
    await session.execute(delete(WatchlistTrack).where(WatchlistTrack.watchlist_id == watchlist_id))
    result = await session.execute(delete(Watchlist).where(Watchlist.id == watchlist_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def replace_feed_token(session: AsyncSession, *, watchlist_id: int, feed_token_hash: str) -> bool:
    result = await session.execute(
        update(Watchlist).where(Watchlist.id == watchlist_id).values(feed_token_hash=feed_token_hash)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def feed_watchlist(session: AsyncSession, *, watchlist_id: int, token: str) -> Watchlist | None:
    """The watchlist if `token` is its current feed token (compared in constant time); None otherwise."""
    watchlist = await get_watchlist(session, watchlist_id=watchlist_id)
    if watchlist is None or not hmac.compare_digest(watchlist.feed_token_hash, token_hash(token)):
        return None
    return watchlist


async def record_first_seen(
    session: AsyncSession, *, watchlist_id: int, track_ids: Sequence[int], run_id: str, now: dt.datetime
) -> None:
    """Tracks this run stored: new to the watchlist unless an earlier run (or attempt) stored them first."""
    rows = [
        {"watchlist_id": watchlist_id, "track_id": track_id, "first_seen_at": now, "run_id": run_id}
        for track_id in dict.fromkeys(track_ids)  # a page may list a track twice
    ]
    await insert_rows(
        session, model=WatchlistTrack, rows=rows, ignore_conflicts_on=("watchlist_id", "track_id")
    )


async def record_run(
    session: AsyncSession, *, watchlist_id: int, run_id: str, new_tracks: int, at: dt.datetime
) -> None:
    await session.execute(
        update(Watchlist)
        .where(Watchlist.id == watchlist_id)
        .values(last_run_id=run_id, last_run_at=at, last_run_new_tracks=new_tracks)
    )


def _selection(
    watchlist_id: int, *, since: dt.datetime | None, run_id: str | None
) -> list[ColumnElement[bool]]:
    conditions = [WatchlistTrack.watchlist_id == watchlist_id]
    if since is not None:
        conditions.append(WatchlistTrack.first_seen_at >= since)
    if run_id is not None:
        conditions.append(WatchlistTrack.run_id == run_id)
    return conditions


async def count_new_tracks(
    session: AsyncSession, *, watchlist_id: int, since: dt.datetime | None = None, run_id: str | None = None
) -> int:
    stmt = select(func.count()).select_from(WatchlistTrack)
    stmt = stmt.where(*_selection(watchlist_id, since=since, run_id=run_id))
    return int((await session.execute(stmt)).scalar_one())


async def new_tracks(
    session: AsyncSession,
    *,
    watchlist_id: int,
    limit: int,
    offset: int = 0,
    since: dt.datetime | None = None,
    run_id: str | None = None,
) -> list[WatchlistTrackRead]:
    """Tracks new to the watchlist, newest first (then the higher Beatport id: the newer release, as a rule)."""
    seen = (
        await session.execute(
            select(WatchlistTrack.track_id, WatchlistTrack.first_seen_at, WatchlistTrack.run_id)
            .where(*_selection(watchlist_id, since=since, run_id=run_id))
            .order_by(WatchlistTrack.first_seen_at.desc(), WatchlistTrack.track_id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    tracks = await tracks_by_id(session, [row.track_id for row in seen])
    return [
        WatchlistTrackRead.model_validate(
            {**dict(tracks[row.track_id]), "first_seen_at": row.first_seen_at, "run_id": row.run_id}
        )
        for row in seen
        if row.track_id in tracks
    ]
