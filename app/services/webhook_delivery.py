"""The webhook of a watchlist run that found new tracks: one signed POST per run, sent by its own task (so it is
retried with backoff and dead-lettered like any task, apart from the collection it follows).

Body: `{"watchlist": {"id", "name"}, "run": {"id", "new_tracks", "tracks_sent"}, "tracks": [...]}`, the tracks
newest first in the shape of `GET /watchlists/{id}/tracks`, at most MAX_TRACKS of them. Every attempt sends the
run id as `X-Cratedigger-Delivery`, so a receiver can tell a retry from a new run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import watchlists
from app.db.read_models import WatchlistTrackRead
from app.errors import PermanentSourceError
from app.sealed import SealBroken, SecretBox
from app.sources.webhook import WebhookSender, shown

MAX_TRACKS = 1000


@dataclass
class DeliveryResult:
    watchlist_id: int
    run_id: str
    delivered: bool
    status: int | None = None
    url: str | None = None  # scheme and host only
    tracks_sent: int = 0
    skipped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def webhook_body(
    *, watchlist_id: int, name: str, run_id: str, new_tracks: int, tracks: list[WatchlistTrackRead]
) -> bytes:
    """The exact bytes that are signed and sent."""
    document = {
        "watchlist": {"id": watchlist_id, "name": name},
        "run": {"id": run_id, "new_tracks": new_tracks, "tracks_sent": len(tracks)},
        "tracks": [track.model_dump(mode="json") for track in tracks],
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookDelivery:
    def __init__(
        self, *, sessions: async_sessionmaker[AsyncSession], sender: WebhookSender, box: SecretBox | None
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._box = box

    async def deliver(self, *, watchlist_id: int, run_id: str) -> DeliveryResult:
        result = DeliveryResult(watchlist_id=watchlist_id, run_id=run_id, delivered=False)
        async with self._sessions() as session:
            watchlist = await watchlists.get_watchlist(session, watchlist_id=watchlist_id)
            if watchlist is None or not watchlist.webhook_url or not watchlist.webhook_secret_sealed:
                result.skipped = f"watchlist {watchlist_id} no longer exists or has no webhook"
                return result
            new_tracks = await watchlists.count_new_tracks(session, watchlist_id=watchlist_id, run_id=run_id)
            tracks = await watchlists.new_tracks(
                session, watchlist_id=watchlist_id, run_id=run_id, limit=MAX_TRACKS
            )
        url = watchlist.webhook_url
        body = webhook_body(
            watchlist_id=watchlist_id,
            name=watchlist.name,
            run_id=run_id,
            new_tracks=new_tracks,
            tracks=tracks,
        )
        secret = self._secret(watchlist.webhook_secret_sealed)
        result.status = await self._sender.send(url=url, body=body, secret=secret, delivery_id=run_id)
        result.delivered, result.url, result.tracks_sent = True, shown(url), len(tracks)
        return result

    def _secret(self, sealed: str) -> str:
        if self._box is None:
            raise PermanentSourceError(
                "SECRET_KEY is not set, so the webhook secret cannot be opened to sign"
            )
        try:
            return self._box.open(sealed)
        except SealBroken as error:
            raise PermanentSourceError(
                "the webhook secret was sealed with another SECRET_KEY; delete and re-create the watchlist"
            ) from error
