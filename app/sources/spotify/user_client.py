"""The user's side of the Web API (their profile and playlists) through spotipy's current-user endpoints, with
the retry policy of `app.sources.spotify.calls` and the limits of Spotify's 2026 playlist API in one place:
items are read 50 at a time (`/playlists/{id}/items`) and written at most 100 URIs a call; playlists are
created with `POST /me/playlists` (the `/users/{id}/playlists` path answers 403).

The access token comes from `tokens` (the stored account's, refreshed by the caller's rules); a 401 asks it
for a fresh one once. Writes are not idempotent (an add that timed out may have been applied), so a write
that got no answer or a 5xx is not repeated here: the sync starts over from the playlist as it then is.
Calls of one client are sequential (one sync per client).
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import requests

from app.errors import PermanentSourceError
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify.calls import CallPolicy, SpotifyCalls
from app.sources.spotify.spotipy_setup import CountingSession, api_client

ITEMS_PAGE_LIMIT = 50  # the most GET /playlists/{id}/items returns at once
WRITE_LIMIT = 100  # the most URIs one add, replace or remove may carry
DEFAULT_POLICY = CallPolicy()


class AccessTokens(Protocol):
    """The user's access token; `renew=True` after Spotify refused the last one."""

    async def __call__(self, *, renew: bool = False) -> str: ...


class _CurrentToken:
    """spotipy's auth manager: hands spotipy the token the async side last fetched."""

    def __init__(self) -> None:
        self.token = ""

    def get_access_token(self, as_dict: bool = False) -> str:
        return self.token


def track_uri(spotify_id: str) -> str:
    return f"spotify:track:{spotify_id}"


def _entry_uri(entry: Any) -> str | None:
    """The URI of one playlist entry: `item` (2026) or `track` (older Client IDs); None for local files and
    unavailable items."""
    if not isinstance(entry, dict):
        return None
    found = entry.get("item") if "item" in entry else entry.get("track")
    if not isinstance(found, dict) or not isinstance(found.get("uri"), str) or entry.get("is_local"):
        return None
    uri: str = found["uri"]
    return uri


def _checked_batch(uris: list[str]) -> list[str]:
    if not 1 <= len(uris) <= WRITE_LIMIT:
        raise ValueError(f"a playlist write carries 1 to {WRITE_LIMIT} URIs, not {len(uris)}")
    return uris


class SpotifyUserClient(SpotifyCalls):
    def __init__(
        self,
        *,
        tokens: AccessTokens,
        api_url: str,
        limiter: AsyncRateLimiter | None = None,
        policy: CallPolicy = DEFAULT_POLICY,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(limiter=limiter, policy=policy)
        self._tokens = tokens
        self._bearer = _CurrentToken()
        self._session = CountingSession(session)
        self._sp = api_client(self._bearer, self._session, timeout=policy.timeout, api_url=api_url)
        self.writes_made = 0

    @property
    def requests_made(self) -> int:
        return self._session.count

    def close(self) -> None:
        self._session.close()  # its own adapters only: a caller's session stays open

    # -- hooks of the retry policy ------------------------------------------------------------------------------
    async def _before_request(self) -> None:
        self._bearer.token = await self._tokens()

    async def _renew_auth(self) -> None:
        await self._tokens(renew=True)

    def _forbidden(self, what: str, message: str) -> PermanentSourceError:
        return PermanentSourceError(f"{what} failed: Spotify refused it (HTTP 403: {message})")

    # -- reads ---------------------------------------------------------------------------------------------------
    async def current_user(self) -> dict[str, Any]:
        """`GET /me/` (spotipy's spelling): `id` and `display_name`."""
        return await self._call("Spotify current user", self._sp.current_user)

    async def playlist(self, playlist_id: str) -> dict[str, Any]:
        """The playlist's id, name, owner and snapshot_id (SpotifyNotFound once it is gone)."""
        return await self._call(
            f"Spotify playlist {playlist_id}",
            lambda: self._sp.playlist(playlist_id, fields="id,name,owner,snapshot_id"),
        )

    async def playlist_uris(self, playlist_id: str) -> list[str]:
        """Every entry's URI in playlist order, read 50 at a time (local files and unavailable items skipped)."""
        what = f"Spotify playlist {playlist_id} items"
        page = await self._call(
            what, lambda: self._sp.playlist_items(playlist_id, limit=ITEMS_PAGE_LIMIT, offset=0)
        )
        uris: list[str] = []
        while True:
            entries = page.get("items")
            for entry in entries if isinstance(entries, list) else []:
                uri = _entry_uri(entry)
                if uri is not None:
                    uris.append(uri)
            following = page.get("next")
            if not following:
                return uris
            page = await self._call(what, functools.partial(self._sp.next, page))

    # -- writes --------------------------------------------------------------------------------------------------
    async def create_playlist(self, name: str, *, public: bool, description: str) -> dict[str, Any]:
        return await self._write(
            f"Spotify create playlist {name!r}",
            lambda: self._sp.current_user_playlist_create(name, public=public, description=description),
        )

    async def replace_items(self, playlist_id: str, uris: list[str]) -> str:
        """The playlist holds exactly `uris` (at most 100; empty clears it); returns the new snapshot_id."""
        if len(uris) > WRITE_LIMIT:
            raise ValueError(f"a replace carries at most {WRITE_LIMIT} URIs")
        result = await self._write(
            f"Spotify replace playlist {playlist_id} items",
            lambda: self._sp.playlist_replace_items(playlist_id, uris),
            idempotent=True,  # a PUT of the whole list: repeating it changes nothing
        )
        return str(result.get("snapshot_id") or "")

    async def add_items(self, playlist_id: str, uris: list[str], *, position: int | None = None) -> str:
        batch = _checked_batch(uris)
        result = await self._write(
            f"Spotify add {len(batch)} items to playlist {playlist_id}",
            lambda: self._sp.playlist_add_items(playlist_id, batch, position=position),
        )
        return str(result.get("snapshot_id") or "")

    async def remove_items(self, playlist_id: str, uris: list[str], *, snapshot_id: str | None = None) -> str:
        """Removes every occurrence of each URI (DELETE with the body key `items`)."""
        batch = _checked_batch(uris)
        result = await self._write(
            f"Spotify remove {len(batch)} items from playlist {playlist_id}",
            lambda: self._sp.playlist_remove_all_occurrences_of_items(
                playlist_id, batch, snapshot_id=snapshot_id
            ),
        )
        return str(result.get("snapshot_id") or "")

    async def _write(self, what: str, fn: Any, *, idempotent: bool = False) -> dict[str, Any]:
        self.writes_made += 1
        return await self._call(what, fn, idempotent=idempotent)
