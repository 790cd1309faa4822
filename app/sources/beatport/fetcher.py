"""Fetches Beatport pages politely. No parsing here: it returns the page text or raises a classified error.

Politeness: one shared `httpx.AsyncClient`, an identifying User-Agent, a per-host request budget, Retry-After
honoured for everyone in the process, and a response-size cap. Bot challenges (403/429/503, a
`cf-mitigated: challenge` header) are transient errors: the task retries them with backoff.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from app.config import Settings
from app.errors import BotChallengeError, PermanentSourceError, TransientSourceError
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.retry import retry_transient

logger = logging.getLogger(__name__)

CHALLENGE_STATUSES = frozenset({403, 429, 503})


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    text: str
    elapsed_seconds: float


def challenge_message(url: str) -> str:
    return f"Beatport served a bot challenge for {url}"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class BeatportFetcher:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        limiter: AsyncRateLimiter,
        max_response_bytes: int,
        attempts: int = 3,
        backoff_base_seconds: float = 1.0,
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/") + "/"
        self._limiter = limiter
        self._max_bytes = max_response_bytes
        self._attempts = attempts
        self._backoff_base = backoff_base_seconds
        self.requests_made = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, client: httpx.AsyncClient, limiter: AsyncRateLimiter
    ) -> BeatportFetcher:
        return cls(
            client=client,
            base_url=str(settings.beatport_base_url),
            limiter=limiter,
            max_response_bytes=settings.beatport_max_response_bytes,
            attempts=settings.beatport_fetch_attempts,
        )

    @staticmethod
    def build_client(settings: Settings) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={
                "User-Agent": settings.beatport_user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "en-US,en;q=0.9",
                **settings.beatport_headers,
            },
            timeout=httpx.Timeout(
                settings.beatport_read_timeout_seconds, connect=settings.beatport_connect_timeout_seconds
            ),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=4),
        )

    def url_for(self, path: str) -> str:
        return urljoin(self._base_url, path.lstrip("/"))

    async def fetch(self, path: str) -> FetchedPage:
        """GET a site path; short transient failures are retried here with backoff, then raised."""
        url = self.url_for(path)
        return await retry_transient(
            lambda: self._fetch_once(url),
            attempts=self._attempts,
            backoff_base=self._backoff_base,
            limiter=self._limiter,
        )

    async def _fetch_once(self, url: str) -> FetchedPage:
        await self._limiter.acquire()
        started = time.monotonic()
        self.requests_made += 1
        try:
            async with self._client.stream("GET", url) as response:
                self._raise_for_status(url, response)
                body = await self._read_capped(url, response)
                encoding = response.encoding or "utf-8"
        except httpx.TimeoutException as error:
            raise TransientSourceError(
                f"Beatport did not answer in time for {url} ({type(error).__name__})"
            ) from error
        except httpx.TransportError as error:
            raise TransientSourceError(f"Could not reach Beatport for {url}: {error!r}") from error
        return FetchedPage(
            url=url, text=body.decode(encoding, errors="replace"), elapsed_seconds=time.monotonic() - started
        )

    def _raise_for_status(self, url: str, response: httpx.Response) -> None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.headers.get("cf-mitigated", "").lower() == "challenge" or response.status_code in (
            403,
            503,
        ):
            if retry_after is not None:
                self._limiter.hold(retry_after)
            raise BotChallengeError(challenge_message(url), retry_after=retry_after)
        if response.status_code == 429:
            if retry_after is not None:
                self._limiter.hold(retry_after)
            raise TransientSourceError(
                f"Beatport rate-limited the request for {url} (HTTP 429, bot protection)",
                retry_after=retry_after,
            )
        if response.status_code >= 500:
            raise TransientSourceError(
                f"Beatport answered HTTP {response.status_code} for {url}", retry_after=retry_after
            )
        if response.status_code == 404:
            raise PermanentSourceError(f"Beatport has no page at {url} (HTTP 404)")
        if response.status_code >= 400:
            raise PermanentSourceError(f"Beatport refused {url} with HTTP {response.status_code}")

    async def _read_capped(self, url: str, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_bytes:
            raise PermanentSourceError(
                f"Beatport page {url} is {declared} bytes, over the {self._max_bytes}-byte cap"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise PermanentSourceError(f"Beatport page {url} exceeded the {self._max_bytes}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)
