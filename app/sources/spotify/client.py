"""Spotify Web API client: spotipy (client-credentials flow) behind an async facade.

spotipy does the HTTP; this module owns everything around it:

* configuration from Settings (base and token URLs, so tests point it at a loopback fake);
* an in-memory token cache (no `.cache` file) and a token request that never logs the secret;
* pacing through a process-wide `AsyncRateLimiter`;
* retries (`app.sources.spotify.calls`, shared with the user's client): short 429s are waited out, long ones
  / `QUOTA_EXCEEDED` raise `SpotifyQuotaExceeded` so the caller can stop its batch, 5xx and network errors
  back off exponentially with jitter, rejected credentials fail at once;
* `requests_made`, the number of HTTP requests sent to the API (token requests not included).

What a status, a Retry-After or a failed connection means, and how long to back off, is read through the
shared policy of `app.sources.http`. A caller (or a test) may hand in its own `requests.Session`.

spotipy is synchronous, so every call runs in a worker thread (`asyncio.to_thread`).
Only single-item endpoints are used: the batch ones (`/tracks?ids=`, `/artists?ids=`) answer 403 to
Development-Mode apps (see tests/fixtures/spotify/README.md).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import requests

from app.config import Settings
from app.errors import PermanentSourceError, TransientSourceError
from app.sources.http import Verdict, classify
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify.calls import (
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_MAX_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    CallPolicy,
    Retryable,
    SpotifyCalls,
    SpotifyNotFound,
    SpotifyQuotaExceeded,
)
from app.sources.spotify.spotipy_setup import (
    ClientCredentials,
    CountingSession,
    TokenEndpointError,
    api_client,
)

logger = logging.getLogger(__name__)

__all__ = ["SpotifyClient", "SpotifyNotConfigured", "SpotifyNotFound", "SpotifyQuotaExceeded"]

DEFAULT_API_URL = "https://api.spotify.com/v1/"
DEFAULT_AUTH_URL = "https://accounts.spotify.com/api/token"
SEARCH_LIMIT_MAX = 10  # Development-Mode maximum since Feb 2026 (larger values answer 400)

CREDENTIALS_REJECTED = "Spotify rejected the client credentials"


class SpotifyNotConfigured(PermanentSourceError):
    """SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET are missing: enrichment cannot run at all."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"Spotify is not configured: set {', '.join(missing)}")
        self.missing = missing


def spotify_quota_key(client_id: str | None) -> str:
    """The Redis key of the quota cooldown: Spotify counts quota per app, so one key per client id (hashed)."""
    digest = hashlib.sha256((client_id or "").encode()).hexdigest()[:16]
    return f"cratedigger:spotify:quota-until:{digest}"


# -- process-wide pacing ---------------------------------------------------------------------------------
_process_limiters: dict[float | None, AsyncRateLimiter] = {}
_process_limiters_lock = threading.Lock()


def process_limiter(rate_per_second: float | None) -> AsyncRateLimiter:
    """The limiter every Spotify client of this process shares for a given budget (created on first use)."""
    key = rate_per_second or None
    with _process_limiters_lock:
        limiter = _process_limiters.get(key)
        if limiter is None:
            limiter = _process_limiters[key] = AsyncRateLimiter(key)
        return limiter


class SpotifyClient(SpotifyCalls):
    """Async Spotify client. Create one per process (or per batch) and close it when done.

    Retry knobs are constructor arguments so tests can make backoff fast; `limiter=None` means unpaced.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        api_url: str = DEFAULT_API_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        market: str = "US",
        limiter: AsyncRateLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        session: requests.Session | None = None,
    ) -> None:
        if not client_id or not client_secret:
            missing = [
                name
                for name, value in (
                    ("SPOTIFY_CLIENT_ID", client_id),
                    ("SPOTIFY_CLIENT_SECRET", client_secret),
                )
                if not value
            ]
            raise SpotifyNotConfigured(missing)
        policy = CallPolicy(timeout, max_attempts, backoff_base, backoff_max, max_retry_after)
        super().__init__(limiter=limiter, policy=policy)
        self.market = market

        # Plain sessions (see api_client). A caller's `session` carries both token and API requests, and stays
        # open when this client closes.
        self._owns_session = session is None
        self._token_session = session if session is not None else requests.Session()
        self._api_session = CountingSession(session)
        self._auth = ClientCredentials(
            client_id, client_secret, token_url=auth_url, session=self._token_session, timeout=timeout
        )
        self._sp = api_client(self._auth, self._api_session, timeout=timeout, api_url=api_url)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        limiter: AsyncRateLimiter | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
        session: requests.Session | None = None,
    ) -> SpotifyClient:
        """Build from Settings; without `limiter`, the process-wide one for SPOTIFY_REQUESTS_PER_SECOND."""
        missing = settings.missing_spotify_settings()
        if missing or settings.spotify_client_id is None or settings.spotify_client_secret is None:
            raise SpotifyNotConfigured(missing)
        return cls(
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret.get_secret_value(),
            api_url=str(settings.spotify_api_url),
            auth_url=str(settings.spotify_auth_url),
            market=settings.spotify_market,
            limiter=limiter if limiter is not None else process_limiter(settings.spotify_requests_per_second),
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            session=session,
        )

    # -- public API --------------------------------------------------------------------------------------
    @property
    def requests_made(self) -> int:
        """HTTP requests sent to the API (every attempt, retries included; token requests excluded)."""
        return self._api_session.count

    @property
    def token_requests(self) -> int:
        return int(self._auth.token_requests)

    async def search_tracks(
        self, query: str, *, market: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Track search items (full TrackObjects, `external_ids.isrc` included). `market` defaults to the
        client's; Spotify answers a miss with an empty list."""
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {SEARCH_LIMIT_MAX} (Spotify Development Mode)")
        market = market or self.market
        result = await self._call(
            f"Spotify search {query!r}",
            lambda: self._sp.search(q=query, limit=limit, type="track", market=market),
        )
        tracks = result.get("tracks")
        items = tracks.get("items") if isinstance(tracks, dict) else None
        if not isinstance(items, list):
            raise TransientSourceError(f"Spotify search {query!r} answered without a tracks.items list")
        return [item for item in items if isinstance(item, dict)]  # Spotify may pad with nulls

    async def get_artist(self, artist_id: str) -> dict[str, Any]:
        return await self._call(f"Spotify artist {artist_id}", lambda: self._sp.artist(artist_id))

    async def get_track(self, track_id: str, *, market: str | None = None) -> dict[str, Any]:
        return await self._call(f"Spotify track {track_id}", lambda: self._sp.track(track_id, market=market))

    def close(self) -> None:
        self._api_session.close()  # its own adapters only: a caller's session is not closed
        if self._owns_session:
            self._token_session.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> SpotifyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- the retry policy's hooks (app.sources.spotify.calls) ----------------------------------------------
    async def _renew_auth(self) -> None:
        self._auth.drop_cached_token()  # spotipy asks for a new token on the next request

    def _classify_token_error(self, what: str, exc: TokenEndpointError) -> Retryable:
        verdict = classify(exc.status)
        if verdict is Verdict.AUTH or (
            exc.status == 400 and exc.error in ("invalid_client", "unauthorized_client")
        ):
            raise PermanentSourceError(CREDENTIALS_REJECTED)
        if exc.status == 429:
            return self._rate_limited(f"{what} (token request)", exc.retry_after, None)
        if verdict is not Verdict.PERMANENT:  # 408, 5xx, or a 2xx without a usable token
            return Retryable(f"{what} failed: Spotify token endpoint answered HTTP {exc.status}")
        raise PermanentSourceError(
            f"{what} failed: Spotify token endpoint refused the request (HTTP {exc.status} {exc.error})"
        )
