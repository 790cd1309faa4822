"""Making, changing and removing watchlists, with their schedules in the one scheduler's store.

A watchlist lives in the database; its cron is a schedule of kind `watchlist` in the ScheduleStore (Redis),
added in the transaction that creates the row (a failure to add it undoes the row) and removed after the row
is deleted (a schedule that outlives its watchlist is dropped by its next run). The embedded mode has no
scheduler: its watchlists run when asked (`POST /watchlists/{id}/run`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import watchlists
from app.db.models import Watchlist
from app.db.watchlists import NewWatchlist, token_hash
from app.errors import InvalidTargetError, TransientSourceError
from app.runtime.cron_schedules import ScheduleStore, watchlist_schedule, watchlist_schedule_id
from app.sealed import SealBroken, SecretBox
from app.sources.beatport.entities import TargetKind
from app.sources.beatport.targets import Target, parse_target
from app.sources.webhook import checked_addresses, parse_webhook_url

WATCHED_KINDS = {
    TargetKind.LABEL_TRACKS: "label tracks /label/<slug>/<id>/tracks",
    TargetKind.ARTIST_TRACKS: "artist tracks /artist/<slug>/<id>/tracks",
    TargetKind.CHART: "chart /chart/<slug>/<id>",
    TargetKind.GENRE_TOP100: "genre Top 100 /genre/<slug>/<id>/top-100",
}
WATCHED_KINDS_HELP = "A watchlist follows " + "; ".join(WATCHED_KINDS.values()) + "."


class WatchlistInputError(ValueError):
    """Input a watchlist cannot be made from; the message names the field and what to fix."""


class SecretKeyMissing(RuntimeError):
    """A webhook secret must be sealed with SECRET_KEY, and it is not set."""


@dataclass(frozen=True)
class CreatedWatchlist:
    watchlist: Watchlist
    feed_token: str  # shown once: only its hash is stored
    webhook_secret: str | None


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


def watched_targets(given: list[str]) -> list[Target]:
    """The targets, each a kind a watchlist follows; the second spelling of one target is dropped."""
    targets: dict[str, Target] = {}
    for index, text in enumerate(given):
        try:
            target = parse_target(text)
        except InvalidTargetError as error:
            raise WatchlistInputError(f"targets[{index}]: {error}") from error
        if target.kind not in WATCHED_KINDS:
            raise WatchlistInputError(
                f"targets[{index}]: {text[:200]!r} is a {target.kind.value} page. {WATCHED_KINDS_HELP}"
            )
        targets.setdefault(target.identity(), target)
    return list(targets.values())


async def checked_webhook_url(url: str, *, allow_private: bool) -> str:
    """The URL if a delivery may go there: http(s), and (unless allowed) a host resolving to public addresses
    only. Checked again at every delivery: DNS answers change."""
    try:
        parts = parse_webhook_url(url)
        if not allow_private:
            await checked_addresses(
                parts.hostname or "",
                parts.port or (443 if parts.scheme == "https" else 80),
                allow_private=False,
            )
    except (ValueError, TransientSourceError) as error:
        raise WatchlistInputError(f"webhook_url: {error}") from error
    return url.strip()


async def create_watchlist(
    *,
    sessions: async_sessionmaker[AsyncSession],
    store: ScheduleStore | None,
    box: SecretBox | None,
    name: str,
    targets: list[Target],
    max_pages: int | None,
    cron: str,
    timezone: str,
    webhook_url: str | None,
    sync: dict[str, Any] | None = None,
) -> CreatedWatchlist:
    if webhook_url is not None and box is None:
        raise SecretKeyMissing(
            "A webhook secret is stored sealed with SECRET_KEY, which is not set: set it (or run "
            "`cratedigger serve`, which makes data/secret-key) and restart."
        )
    feed_token = new_feed_token()
    webhook_secret = secrets.token_urlsafe(32) if webhook_url is not None else None
    new = NewWatchlist(
        name=name,
        targets=[target.path().partition("?")[0] for target in targets],  # paging is the run's business
        max_pages=max_pages,
        cron=cron,
        timezone=timezone,
        webhook_url=webhook_url,
        webhook_secret_sealed=box.seal(webhook_secret).decode() if box and webhook_secret else None,
        feed_token_hash=token_hash(feed_token),
        sync=sync,
    )
    async with sessions.begin() as session:
        watchlist = await watchlists.create_watchlist(session, new=new)
        if store is not None:
            await store.add(
                watchlist_schedule(watchlist_id=watchlist.id, name=name, cron=cron, timezone=timezone)
            )
    return CreatedWatchlist(watchlist=watchlist, feed_token=feed_token, webhook_secret=webhook_secret)


async def delete_watchlist(
    *, sessions: async_sessionmaker[AsyncSession], store: ScheduleStore | None, watchlist_id: int
) -> bool:
    async with sessions.begin() as session:
        deleted = await watchlists.delete_watchlist(session, watchlist_id=watchlist_id)
    if deleted and store is not None:
        await store.remove(watchlist_schedule_id(watchlist_id))
    return deleted


async def reset_feed_token(*, sessions: async_sessionmaker[AsyncSession], watchlist_id: int) -> str | None:
    """A new feed token (the old URL stops working at once); None for an unknown watchlist."""
    feed_token = new_feed_token()
    async with sessions.begin() as session:
        changed = await watchlists.replace_feed_token(
            session, watchlist_id=watchlist_id, feed_token_hash=token_hash(feed_token)
        )
    return feed_token if changed else None


def webhook_secret_of(watchlist: Watchlist, box: SecretBox | None) -> str | None:
    """The webhook secret in clear (for admins), or None without a webhook or a key that opens it."""
    if watchlist.webhook_secret_sealed is None or box is None:
        return None
    try:
        return box.open(watchlist.webhook_secret_sealed)
    except SealBroken:
        return None
