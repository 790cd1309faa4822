"""The retry policy every Spotify client shares (the app's client-credentials client and the user's client).

spotipy does the HTTP in a worker thread (`asyncio.to_thread`); this loop decides what an answer means:

* pacing through the shared `AsyncRateLimiter` before every request;
* 429: a short Retry-After pauses every caller of the limiter and the call is repeated; a long one (or
  `QUOTA_EXCEEDED`) raises `SpotifyQuotaExceeded` at once, and later calls fail without a request until then;
* 401: the subclass renews its credentials once (`_renew_auth`), which is not counted as an attempt;
* 5xx and network errors back off exponentially with jitter, except for calls that are not idempotent (a
  playlist POST may have been applied even though no answer came): those fail at once with a transient
  error, and the caller's own retry starts over from what is there;
* anything else fails at once (`PermanentSourceError`, `SpotifyNotFound` for a 404).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from requests.exceptions import ChunkedEncodingError, RequestException, Timeout
from requests.exceptions import ConnectionError as RequestsConnectionError
from spotipy import SpotifyException

from app.errors import PermanentSourceError, TransientSourceError
from app.observability.metrics import QUOTA_STOPS
from app.sources.http import Verdict, backoff_seconds, classify, header, parse_retry_after, transport_error
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify.spotipy_setup import TokenEndpointError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 4  # first try + 3 retries, for 429s, 5xx and network errors alike
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 8.0
DEFAULT_MAX_RETRY_AFTER_SECONDS = 60.0  # a longer Retry-After is a quota, not a blip: don't sleep on it
DEFAULT_QUOTA_RETRY_AFTER_SECONDS = 3600.0  # QUOTA_EXCEEDED without a usable Retry-After header


class SpotifyQuotaExceeded(TransientSourceError):
    """Spotify wants us gone for longer than is worth waiting in-call: stop the batch, resume later."""

    def __init__(self, message: str, *, retry_after: float, resume_at: dt.datetime) -> None:
        super().__init__(message, retry_after=retry_after)
        self.resume_at = resume_at


class SpotifyNotFound(PermanentSourceError):
    """404 for a single item (a track, an artist, a playlist: deleted or never existed)."""


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How long to wait for an answer and how to retry (tests make backoff fast)."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS


@dataclass(frozen=True, slots=True)
class Retryable:
    message: str
    retry_after: float | None = None  # None: exponential backoff; a number: the server said how long


def spotify_message(exc: SpotifyException) -> str:
    # spotipy's msg is "<url>:\n <message>"; keep it on one line for task statuses.
    return " ".join(str(exc.msg).split())


def _no_answer(what: str, exc: RequestException) -> Retryable:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or what
    return Retryable(f"{what} failed: {transport_error('Spotify', exc, url=url)}")


class SpotifyCalls:
    """The loop; subclasses say how to renew credentials and how to read a failed token request."""

    def __init__(self, *, limiter: AsyncRateLimiter | None, policy: CallPolicy) -> None:
        if policy.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._limiter = limiter if limiter is not None else AsyncRateLimiter(None)
        self._max_attempts = policy.max_attempts
        self._backoff_base = policy.backoff_base
        self._backoff_max = policy.backoff_max
        self._max_retry_after = policy.max_retry_after
        self._quota_until: dt.datetime | None = None

    # -- hooks ------------------------------------------------------------------------------------------------
    async def _before_request(self) -> None:
        """Called before each request is sent (after pacing)."""

    async def _renew_auth(self) -> None:
        """The access token was refused (401): get a fresh one for the next request."""

    def _classify_token_error(self, what: str, exc: TokenEndpointError) -> Retryable:
        raise PermanentSourceError(f"{what} failed: {exc}")

    def _forbidden(self, what: str, message: str) -> PermanentSourceError:
        return PermanentSourceError(f"{what} failed: HTTP 403 Forbidden (endpoint not available to this app)")

    # -- the loop ---------------------------------------------------------------------------------------------
    async def _call(self, what: str, fn: Callable[[], Any], *, idempotent: bool = True) -> dict[str, Any]:
        attempt = 0
        renewed = False
        while True:
            self._check_quota(what)
            attempt += 1
            await self._limiter.acquire()
            await self._before_request()
            try:
                result = await asyncio.to_thread(fn)
            except TokenEndpointError as exc:
                failure = self._classify_token_error(what, exc)
            except SpotifyException as exc:
                if classify(int(exc.http_status)) is Verdict.AUTH and not renewed:
                    # Expired/revoked bearer token: fetch a fresh one and try once more (not a retry attempt).
                    renewed = True
                    await self._renew_auth()
                    attempt -= 1
                    continue
                failure = self._classify_api_error(what, exc, idempotent=idempotent)
            except (Timeout, RequestsConnectionError, ChunkedEncodingError) as exc:
                failure = _no_answer(what, exc)
                if not idempotent:
                    raise TransientSourceError(
                        f"{failure.message} (not repeated: it may have been applied)"
                    ) from exc
            else:
                if isinstance(result, dict):
                    return result
                failure = Retryable(f"{what} failed: the response body was not a JSON object")
            await self._wait_before_retry(failure, attempt)

    async def _wait_before_retry(self, failure: Retryable, attempt: int) -> None:
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
            return
        delay = backoff_seconds(attempt, base=self._backoff_base, cap=self._backoff_max)
        logger.warning(
            "%s; retrying in %.2f s (attempt %d/%d)", failure.message, delay, attempt, self._max_attempts
        )
        await asyncio.sleep(delay)

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

    def _rate_limited(self, what: str, retry_after: float | None, reason: str | None) -> Retryable:
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
        return Retryable(f"{what}: Spotify rate limit (HTTP 429)", retry_after=retry_after)

    def _classify_api_error(self, what: str, exc: SpotifyException, *, idempotent: bool) -> Retryable:
        status = int(exc.http_status)
        message = spotify_message(exc)
        verdict = classify(status, exc.headers)
        if status == 429:  # refused, so never applied: safe to repeat whatever the method
            return self._rate_limited(what, parse_retry_after(header(exc.headers, "retry-after")), exc.reason)
        if verdict in (Verdict.TRANSIENT, Verdict.CHALLENGE):
            if not idempotent:
                raise TransientSourceError(
                    f"{what} failed: HTTP {status} from Spotify (not repeated in-call)"
                )
            return Retryable(f"{what} failed: HTTP {status} from Spotify")
        if verdict is Verdict.AUTH:
            raise PermanentSourceError(
                f"{what} failed: Spotify rejected a freshly issued access token (HTTP 401)"
            )
        if status == 403:
            raise self._forbidden(what, message)
        if status == 404:
            raise SpotifyNotFound(f"{what} failed: HTTP 404 not found ({message})")
        raise PermanentSourceError(f"{what} failed: HTTP {status} ({message})")
