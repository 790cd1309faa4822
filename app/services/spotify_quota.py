"""The Spotify quota stop as every Spotify task meets it: one cooldown per Spotify app (a Redis key shared by
every worker, app.sources.cooldown), started by whoever is told to go away for long, and honoured by everyone
else before they send a request."""

from __future__ import annotations

import datetime as dt
import math

from app.sources.cooldown import Cooldown
from app.sources.spotify import SpotifyQuotaExceeded

RESUME_MARGIN_SECONDS = 1  # resume a moment after Spotify's Retry-After, not on its edge


async def quota_in_force(quota: Cooldown | None) -> SpotifyQuotaExceeded | None:
    """The stop another task (or an earlier run) met, while it lasts: send nothing then."""
    active = await quota.active() if quota is not None else None
    if active is None:
        return None
    return SpotifyQuotaExceeded(
        f"not sent: Spotify quota exhausted until {active.until.isoformat(timespec='seconds')} "
        f"(met by an earlier request: {active.note})",
        retry_after=(active.until - dt.datetime.now(dt.UTC)).total_seconds(),
        resume_at=active.until,
    )


async def share_quota_stop(quota: Cooldown | None, error: SpotifyQuotaExceeded) -> None:
    """Tell every other Spotify task of the deployment to stop asking until `error.resume_at`."""
    if quota is not None:
        await quota.start(until=error.resume_at, note=str(error))


def resume_after(error: SpotifyQuotaExceeded) -> tuple[dt.datetime, int]:
    """When work stopped by `error` may go on (whole seconds for people, never earlier than Spotify said), and
    how many seconds from now a follow-up task should wait."""
    resume_at = error.resume_at
    if resume_at.microsecond:
        resume_at = resume_at.replace(microsecond=0) + dt.timedelta(seconds=1)
    wait = (resume_at - dt.datetime.now(dt.UTC)).total_seconds()
    return resume_at, max(0, math.ceil(wait)) + RESUME_MARGIN_SECONDS
