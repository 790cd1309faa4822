"""One HTTP policy for every site Cratedigger talks to: Beatport pages, the Beatport API and login, Spotify.

Decided here once, so the sites differ only in the name they give themselves in messages:

* what an answer's status means (`classify`: ok, transient, challenge, auth, permanent) and the error it
  becomes (`status_error`), with a Retry-After pausing every caller sharing the site's request budget;
* how long a site asks us to wait (`parse_retry_after`: integer or decimal seconds, or an HTTP date);
* how much of a body is read (`read_capped`: streamed, stopped past the cap with a permanent error);
* what a failed connection means (`transport_error`: transient, naming the URL);
* which redirects are followed (`SiteClient.send`: the same origin only — a link to another host must never
  receive our headers or tokens, and a page moved to another host is not the page we were asked for);
* how long to back off, and the short retry inside one request (`backoff_seconds`, `retry_transient`).

Clients are always handed in (`httpx.AsyncClient`), so tests can pass their own transport.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import requests

from app.errors import CratediggerError, PermanentSourceError, TransientSourceError
from app.observability.metrics import record_answer
from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 3
# Retry-After values up to this are waited out inside the request; longer ones go back to the task's retry policy.
MAX_INLINE_RETRY_AFTER_SECONDS = 30.0
TRANSIENT_STATUSES = frozenset({408, 429})  # plus every 5xx
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class Verdict(enum.StrEnum):
    OK = "ok"  # 1xx-3xx: the caller reads the answer (redirects are the caller's or `send`'s business)
    TRANSIENT = "transient"  # 408, 429, 5xx: the far end may answer next time
    CHALLENGE = "challenge"  # a bot wall: `cf-mitigated: challenge`, or a status the site's wall answers with
    AUTH = "auth"  # 401: the token or credentials were refused; a fresh token may pass
    PERMANENT = "permanent"  # any other 4xx: asking again cannot help


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header by case-insensitive name, also from a plain dict (httpx and requests headers already are)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds to wait, or None when there is no usable value.

    Delta-seconds may be integer ("120") or decimal ("1.5": some servers send it, RFC 9110 does not); an HTTP
    date in the past means "now" (0.0). Anything else — negative ("-5"), exponent or non-finite numbers, text —
    is None: the caller then backs off on its own schedule rather than trusting a broken header.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a "-0000" zone parses naive
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(
    status: int, headers: Mapping[str, str] | None = None, *, challenge_statuses: frozenset[int] = frozenset()
) -> Verdict:
    """What an answer means. `challenge_statuses`: the statuses a site's bot wall answers with (pages: 403, 503)."""
    if (header(headers, "cf-mitigated") or "").lower() == "challenge" or status in challenge_statuses:
        return Verdict.CHALLENGE
    if status < 400:
        return Verdict.OK
    if status == 401:
        return Verdict.AUTH
    if status in TRANSIENT_STATUSES or status >= 500:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT


def error_detail(body: bytes | str | None) -> str | None:
    """The short human text of a JSON error body (`detail`, `error_description`, `error`, ...); never the body."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for name in ("detail", "error_description", "error", "non_field_errors", "message"):
        value = data.get(name)
        if isinstance(value, list) and value and isinstance(value[0], str):
            value = value[0]
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:200]
    return None


@dataclass(frozen=True, slots=True)
class Site:
    """How one site is spoken to: its name in messages, what its bot wall answers, how much we read."""

    name: str
    challenge_statuses: frozenset[int] = frozenset()
    # Pages answer a challenge with BotChallengeError (`auto` switches to the API); elsewhere it is transient.
    challenge_error: type[TransientSourceError] = TransientSourceError
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    @property
    def metric_label(self) -> str:
        """The `site` label of outbound request metrics: `beatport`, `beatport_api`."""
        return self.name.lower().replace(" ", "_")


def status_error(
    site: Site, status: int, headers: Mapping[str, str] | None, *, url: object, body: bytes = b""
) -> CratediggerError | None:
    """The error an answer stands for, or None when it is OK. A 401 is permanent here: callers that can renew
    a token check for `Verdict.AUTH` first."""
    verdict = classify(status, headers, challenge_statuses=site.challenge_statuses)
    retry_after = parse_retry_after(header(headers, "retry-after"))
    if verdict is Verdict.OK:
        return None
    if verdict is Verdict.CHALLENGE:
        return site.challenge_error(f"{site.name} served a bot challenge for {url}", retry_after=retry_after)
    if verdict is Verdict.TRANSIENT:
        what = "rate-limited the request for" if status == 429 else f"answered HTTP {status} for"
        suffix = " (HTTP 429)" if status == 429 else ""
        return TransientSourceError(f"{site.name} {what} {url}{suffix}", retry_after=retry_after)
    if status == 404:
        return PermanentSourceError(f"{site.name} has nothing at {url} (HTTP 404)")
    detail = error_detail(body)
    return PermanentSourceError(
        f"{site.name} refused {url} with HTTP {status}" + (f": {detail}" if detail else "")
    )


def transport_error(site_name: str, error: Exception, *, url: object) -> TransientSourceError:
    """A request that got no answer (timeout, refused or dropped connection): worth trying again.

    `error` is httpx's (Beatport) or requests' (spotipy) exception; the message names the URL and the kind.
    """
    kind = type(error).__name__
    if isinstance(error, httpx.TimeoutException | requests.Timeout):
        return TransientSourceError(f"{site_name} did not answer in time for {url} ({kind})")
    return TransientSourceError(f"Could not reach {site_name} for {url} ({kind})")


async def read_capped(response: httpx.Response, *, limit: int, what: str) -> bytes:
    """The body of a streamed response, refused (permanent) as soon as it is larger than `limit` bytes."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PermanentSourceError(f"{what} is {declared} bytes, over the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PermanentSourceError(f"{what} exceeded the {limit}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole, capped answer (the streamed response is closed by then)."""

    url: httpx.URL  # after same-origin redirects
    status: int
    headers: httpx.Headers
    body: bytes
    encoding: str = "utf-8"

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding, errors="replace")

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and "location" in self.headers

    def json(self) -> Any:
        """The decoded JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class SiteClient:
    """One site's HTTP: a caller-owned `httpx.AsyncClient`, the site's policy and its request budget.

    `requests_made` counts every request sent, redirects included.
    """

    def __init__(self, client: httpx.AsyncClient, *, site: Site, limiter: AsyncRateLimiter) -> None:
        self.client = client
        self.site = site
        self.limiter = limiter
        self.requests_made = 0

    async def send(
        self, method: str, url: httpx.URL | str, *, follow_redirects: bool = True, **kwargs: Any
    ) -> Answer:
        """Send one request (paced), following same-origin redirects (the request is sent again as it was);
        a redirect to another origin (scheme, host, port) is a permanent error naming both.

        Never raises for a status: see `raise_for_status`. Raises TransientSourceError when no answer came.
        """
        url = httpx.URL(url)
        for _ in range(self.site.max_redirects + 1):
            answer = await self._send_once(method, url, **kwargs)
            if not (follow_redirects and answer.is_redirect):
                return answer
            target = url.join(answer.headers["location"])
            if _origin(target) != _origin(url):
                raise PermanentSourceError(
                    f"{self.site.name} redirected {url} to another host ({_origin(url)} → {_origin(target)}); "
                    "not followed"
                )
            url = target
        raise PermanentSourceError(
            f"{self.site.name} redirected {url} more than {self.site.max_redirects} times"
        )

    async def _send_once(self, method: str, url: httpx.URL, **kwargs: Any) -> Answer:
        await self.limiter.acquire()
        self.requests_made += 1
        answered = False  # a body that breaks off after the status was counted is not counted twice
        try:
            # Redirects are ours to judge (same origin only), whatever the handed-in client was built with.
            async with self.client.stream(method, url, follow_redirects=False, **kwargs) as response:
                record_answer(self.site.metric_label, response.status_code)
                answered = True
                body = await read_capped(
                    response, limit=self.site.max_body_bytes, what=f"{self.site.name} answer for {url}"
                )
                return Answer(
                    url=url,
                    status=response.status_code,
                    headers=response.headers,
                    body=body,
                    encoding=response.encoding or "utf-8",
                )
        except httpx.TransportError as error:
            if not answered:
                record_answer(self.site.metric_label, None)
            raise transport_error(self.site.name, error, url=url) from error

    def raise_for_status(self, answer: Answer) -> None:
        """Raise the error `answer` stands for; a Retry-After pauses every caller sharing the limiter."""
        error = status_error(self.site, answer.status, answer.headers, url=answer.url, body=answer.body)
        if error is None:
            return
        if isinstance(error, TransientSourceError) and error.retry_after is not None:
            self.limiter.hold(error.retry_after)
        raise error

    def raise_transient(self, answer: Answer) -> None:
        """Raise only when asking again may help (408, 429, 5xx, a challenge): for callers that read the
        meaning of refusals themselves (a login answers a wrong password with its own body)."""
        if classify(answer.status, answer.headers, challenge_statuses=self.site.challenge_statuses) in (
            Verdict.TRANSIENT,
            Verdict.CHALLENGE,
        ):
            self.raise_for_status(answer)


def backoff_seconds(attempt: int, *, base: float, cap: float = math.inf) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so parallel callers spread out."""
    delay = min(cap, base * 2.0 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


async def retry_transient(
    call: Callable[[], Awaitable[T]], *, attempts: int, backoff_base: float, limiter: AsyncRateLimiter
) -> T:
    """Run `call`; on a TransientSourceError wait (Retry-After, else backoff) and retry, `attempts` in all.

    The wait is applied through the shared limiter, so every request to that host in the process waits too.
    A Retry-After longer than MAX_INLINE_RETRY_AFTER_SECONDS goes to the task's retry policy at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TransientSourceError as error:
            wait = error.retry_after
            if wait is None:
                wait = backoff_seconds(attempt, base=backoff_base)
            if attempt == attempts or wait > MAX_INLINE_RETRY_AFTER_SECONDS:
                raise
            logger.info("%s; retrying in %.1f s (attempt %d/%d)", error, wait, attempt, attempts)
            limiter.hold(wait)
    raise AssertionError("unreachable")
