"""Fetches Beatport pages politely. No parsing here: it returns the page text or raises a classified error.

Politeness: one shared `httpx.AsyncClient`, an identifying User-Agent, a per-host request budget, Retry-After
honoured for everyone in the process, and a response-size cap (the policy of `app.sources.http`). Bot
challenges (403/503 or a `cf-mitigated: challenge` header) are `BotChallengeError`s: `auto` collection
switches to the API, otherwise the task retries them with backoff. Redirects are followed on the same host
only (a locale redirect is fine); a page moved to another host is a permanent error naming both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from app.config import Settings
from app.errors import BotChallengeError
from app.sources.http import Site, SiteClient, retry_transient
from app.sources.ratelimit import AsyncRateLimiter

# Cloudflare's wall answers pages with 403 or 503 (429 is a plain rate limit).
CHALLENGE_STATUSES = frozenset({403, 503})


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    text: str
    elapsed_seconds: float


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
        site = Site(
            name="Beatport",
            challenge_statuses=CHALLENGE_STATUSES,
            challenge_error=BotChallengeError,
            max_body_bytes=max_response_bytes,
        )
        self._http = SiteClient(client, site=site, limiter=limiter)
        self._base_url = base_url.rstrip("/") + "/"
        self._attempts = attempts
        self._backoff_base = backoff_base_seconds

    @property
    def requests_made(self) -> int:
        return self._http.requests_made

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
            follow_redirects=False,  # same-host redirects are followed by SiteClient; others are refused
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
            limiter=self._http.limiter,
        )

    async def _fetch_once(self, url: str) -> FetchedPage:
        started = time.monotonic()
        answer = await self._http.send("GET", url)
        self._http.raise_for_status(answer)
        return FetchedPage(url=url, text=answer.text, elapsed_seconds=time.monotonic() - started)
