"""Spotify Web API client: spotipy (client-credentials flow) behind an async facade.

spotipy does the HTTP; this module owns everything around it:

* configuration from Settings (base and token URLs, so tests point it at a loopback fake);
* an in-memory token cache (no `.cache` file) and a token request that never logs the secret;
* pacing through a process-wide `AsyncRateLimiter`;
* retries: short 429s are waited out, long ones / `QUOTA_EXCEEDED` raise `SpotifyQuotaExceeded` so the
  caller can stop its batch, 5xx and network errors back off exponentially with jitter, rejected
  credentials fail at once;
* `requests_made`, the number of HTTP requests sent to the API (token requests not included).

What a status, a Retry-After or a failed connection means, and how long to back off, is read through the
shared policy of `app.sources.http`. A caller (or a test) may hand in its own `requests.Session`.

spotipy is synchronous, so every call runs in a worker thread (`asyncio.to_thread`).
Only single-item endpoints are used: the batch ones (`/tracks?ids=`, `/artists?ids=`) answer 403 to
Development-Mode apps (see tests/fixtures/spotify/README.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.exceptions import ChunkedEncodingError, RequestException, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from spotipy import Spotify, SpotifyException

from app.config import Settings
from app.errors import PermanentSourceError, TransientSourceError
from app.observability.metrics import QUOTA_STOPS
from app.sources.http import Verdict, backoff_seconds, classify, header, parse_retry_after, transport_error
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify.spotipy_setup import ClientCredentials, CountingSession, TokenEndpointError

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.spotify.com/v1/"
DEFAULT_AUTH_URL = "https://accounts.spotify.com/api/token"
SEARCH_LIMIT_MAX = 10  # Development-Mode maximum since Feb 2026 (larger values answer 400)

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 4  # first try + 3 retries, for 429s, 5xx and network errors alike
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 8.0
DEFAULT_MAX_RETRY_AFTER_SECONDS = 60.0  # a longer Retry-After is a quota, not a blip: don't sleep on it
DEFAULT_QUOTA_RETRY_AFTER_SECONDS = 3600.0  # QUOTA_EXCEEDED without a usable Retry-After header

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


class SpotifyQuotaExceeded(TransientSourceError):
    """Spotify wants us gone for longer than is worth waiting in-call: stop the batch, resume later."""

    def __init__(self, message: str, *, retry_after: float, resume_at: dt.datetime) -> None:
        super().__init__(message, retry_after=retry_after)
        self.resume_at = resume_at


class SpotifyNotFound(PermanentSourceError):
    """404 for a single track/artist ID (deleted or never existed)."""


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


@dataclass(frozen=True, slots=True)
class _Retryable:
    message: str
    retry_after: float | None = None  # None: exponential backoff; a number: the server said how long


def _spotify_message(exc: SpotifyException) -> str:
    # spotipy's msg is "<url>:\n <message>"; keep it on one line for task statuses.
    return " ".join(str(exc.msg).split())


def _no_answer(what: str, exc: RequestException) -> _Retryable:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or what
    return _Retryable(f"{what} failed: {transport_error('Spotify', exc, url=url)}")


class SpotifyClient:
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
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.market = market
        self._limiter = limiter if limiter is not None else AsyncRateLimiter(None)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._quota_until: dt.datetime | None = None

        # Plain sessions: spotipy only mounts its urllib3 Retry adapter on sessions it builds itself, and
        # that adapter would sleep through a 429 inside the call instead of letting us see Retry-After.
        # A caller's `session` carries both token and API requests, and stays open when this client closes.
        self._owns_session = session is None
        self._token_session = session if session is not None else requests.Session()
        self._api_session = CountingSession(session)
        self._auth = ClientCredentials(
            client_id, client_secret, token_url=auth_url, session=self._token_session, timeout=timeout
        )
        self._sp = Spotify(
            auth_manager=self._auth,
            requests_session=self._api_session,
            requests_timeout=timeout,
            retries=0,
            status_retries=0,
        )
        self._sp.prefix = api_url if api_url.endswith("/") else api_url + "/"

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

    # -- retry policy ------------------------------------------------------------------------------------
    async def _call(self, what: str, fn: Callable[[], Any]) -> dict[str, Any]:
        attempt = 0
        token_dropped = False
        while True:
            self._check_quota(what)
            attempt += 1
            await self._limiter.acquire()
            try:
                result = await asyncio.to_thread(fn)
            except TokenEndpointError as exc:
                failure = self._classify_token_error(what, exc)
            except SpotifyException as exc:
                if classify(int(exc.http_status)) is Verdict.AUTH and not token_dropped:
                    # Expired/revoked bearer token: fetch a fresh one and try once more (not a retry attempt).
                    token_dropped = True
                    self._auth.drop_cached_token()
                    attempt -= 1
                    continue
                failure = self._classify_api_error(what, exc)
            except (Timeout, RequestsConnectionError, ChunkedEncodingError) as exc:
                failure = _no_answer(what, exc)
            else:
                if isinstance(result, dict):
                    return result
                failure = _Retryable(f"{what} failed: the response body was not a JSON object")

            if attempt >= self._max_attempts:
                raise TransientSourceError(
                    f"{failure.message} (gave up after {attempt} attempts)", retry_after=failure.retry_after
                )
            if failure.retry_after is not None:
                # A rate limit applies to the whole app: pause every caller sharing the limiter.
                # The next acquire() (ours and everyone else's) waits it out — paced or unlimited limiter.
                logger.warning(
                    "%s; waiting %.1f s (attempt %d/%d)",
                    failure.message,
                    failure.retry_after,
                    attempt,
                    self._max_attempts,
                )
                self._limiter.hold(failure.retry_after)
            else:
                delay = self._backoff(attempt)
                logger.warning(
                    "%s; retrying in %.2f s (attempt %d/%d)",
                    failure.message,
                    delay,
                    attempt,
                    self._max_attempts,
                )
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return backoff_seconds(attempt, base=self._backoff_base, cap=self._backoff_max)

    def _check_quota(self, what: str) -> None:
        # After a quota 429 there is no point asking again before the resume time: fail without a request.
        if self._quota_until is None:
            return
        remaining = (self._quota_until - dt.datetime.now(dt.UTC)).total_seconds()
        if remaining > 0:
            raise SpotifyQuotaExceeded(
                f"{what} not sent: Spotify quota exhausted until {self._quota_until.isoformat(timespec='seconds')}",
                retry_after=remaining,
                resume_at=self._quota_until,
            )
        self._quota_until = None

    def _rate_limited(self, what: str, retry_after: float | None, reason: str | None) -> _Retryable:
        if reason == "QUOTA_EXCEEDED" or (retry_after is not None and retry_after > self._max_retry_after):
            wait = retry_after if retry_after is not None else DEFAULT_QUOTA_RETRY_AFTER_SECONDS
            resume_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
            self._quota_until = resume_at
            kind = "quota exceeded" if reason == "QUOTA_EXCEEDED" else "rate limited"
            QUOTA_STOPS.labels(site="spotify").inc()
            raise SpotifyQuotaExceeded(
                f"{what}: Spotify {kind} (HTTP 429), retry after {wait:.0f} s "
                f"(at {resume_at.isoformat(timespec='seconds')})",
                retry_after=wait,
                resume_at=resume_at,
            )
        return _Retryable(f"{what}: Spotify rate limit (HTTP 429)", retry_after=retry_after)

    def _classify_api_error(self, what: str, exc: SpotifyException) -> _Retryable:
        status = int(exc.http_status)
        message = _spotify_message(exc)
        verdict = classify(status, exc.headers)
        if status == 429:
            return self._rate_limited(what, parse_retry_after(header(exc.headers, "retry-after")), exc.reason)
        if verdict in (Verdict.TRANSIENT, Verdict.CHALLENGE):
            return _Retryable(f"{what} failed: HTTP {status} from Spotify")
        if verdict is Verdict.AUTH:
            raise PermanentSourceError(
                f"{what} failed: Spotify rejected a freshly issued access token (HTTP 401)"
            )
        if status == 403:
            raise PermanentSourceError(
                f"{what} failed: HTTP 403 Forbidden (endpoint not available to this app)"
            )
        if status == 404:
            raise SpotifyNotFound(f"{what} failed: HTTP 404 not found ({message})")
        raise PermanentSourceError(f"{what} failed: HTTP {status} ({message})")

    def _classify_token_error(self, what: str, exc: TokenEndpointError) -> _Retryable:
        verdict = classify(exc.status)
        if verdict is Verdict.AUTH or (
            exc.status == 400 and exc.error in ("invalid_client", "unauthorized_client")
        ):
            raise PermanentSourceError(CREDENTIALS_REJECTED)
        if exc.status == 429:
            return self._rate_limited(f"{what} (token request)", exc.retry_after, None)
        if verdict is not Verdict.PERMANENT:  # 408, 5xx, or a 2xx without a usable token
            return _Retryable(f"{what} failed: Spotify token endpoint answered HTTP {exc.status}")
        raise PermanentSourceError(
            f"{what} failed: Spotify token endpoint refused the request (HTTP {exc.status} {exc.error})"
        )
