"""The HTTP policy every site shares (app/sources/http.py): Retry-After, status classification, capped body
reads, transport errors and same-origin redirects. Pure policy: the far end is an httpx.MockTransport."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import requests

from app.errors import BotChallengeError, PermanentSourceError, TransientSourceError
from app.sources.http import (
    Site,
    SiteClient,
    Verdict,
    backoff_seconds,
    classify,
    header,
    parse_retry_after,
    status_error,
    transport_error,
)
from app.sources.ratelimit import AsyncRateLimiter

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
PAGES = Site(name="Beatport", challenge_statuses=frozenset({403, 503}), challenge_error=BotChallengeError)
API = Site(name="Beatport API")


def http_date(when: dt.datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


# -- Retry-After -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("120", 120.0, id="integer"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param(" 7 ", 7.0, id="padded"),
        pytest.param("1.5", 1.5, id="decimal"),
        pytest.param(http_date(NOW + dt.timedelta(seconds=90)), 90.0, id="HTTP date in the future"),
        pytest.param(http_date(NOW - dt.timedelta(hours=1)), 0.0, id="HTTP date in the past"),
        pytest.param("Mon, 01 Jun 2026 12:00:30 -0000", 30.0, id="HTTP date, unknown zone read as GMT"),
    ],
)
def test_retry_after_is_read(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW.timestamp()) == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("-5", id="negative"),
        pytest.param("-1.5", id="negative decimal"),
        pytest.param("soon", id="garbage"),
        pytest.param("12abc", id="digits then garbage"),
        pytest.param("1e3", id="exponent"),
        pytest.param("nan", id="nan"),
        pytest.param("inf", id="infinity"),
        pytest.param("Mon, 99 Foo 2026 25:00:00 GMT", id="broken date"),
    ],
)
def test_unusable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW.timestamp()) is None


def test_retry_after_header_is_found_whatever_its_case() -> None:
    assert header({"Retry-After": "3"}, "retry-after") == "3"
    assert header(httpx.Headers({"retry-after": "3"}), "Retry-After") == "3"
    assert header(None, "retry-after") is None


# -- status classification ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "api", "pages"),
    [
        (200, Verdict.OK, Verdict.OK),
        (301, Verdict.OK, Verdict.OK),  # redirects are followed (same origin) or read by the caller
        (401, Verdict.AUTH, Verdict.AUTH),
        (403, Verdict.PERMANENT, Verdict.CHALLENGE),  # pages' bot wall answers 403
        (404, Verdict.PERMANENT, Verdict.PERMANENT),
        (408, Verdict.TRANSIENT, Verdict.TRANSIENT),
        (410, Verdict.PERMANENT, Verdict.PERMANENT),
        (429, Verdict.TRANSIENT, Verdict.TRANSIENT),
        (500, Verdict.TRANSIENT, Verdict.TRANSIENT),
        (502, Verdict.TRANSIENT, Verdict.TRANSIENT),
        (503, Verdict.TRANSIENT, Verdict.CHALLENGE),  # ... and 503
    ],
)
def test_status_classification(status: int, api: Verdict, pages: Verdict) -> None:
    assert classify(status) is api
    assert classify(status, challenge_statuses=PAGES.challenge_statuses) is pages


def test_a_challenge_header_is_a_challenge_on_every_site() -> None:
    for status in (200, 403, 429):
        assert classify(status, {"CF-Mitigated": "challenge"}) is Verdict.CHALLENGE


def test_errors_name_the_site_and_url_and_carry_retry_after() -> None:
    url = "https://www.beatport.com/genre/x/1/top-100"
    assert status_error(PAGES, 200, {}, url=url) is None

    challenge = status_error(PAGES, 403, {"Retry-After": "2"}, url=url)
    assert isinstance(challenge, BotChallengeError) and challenge.retry_after == 2
    assert str(challenge) == f"Beatport served a bot challenge for {url}"
    api_challenge = status_error(API, 403, {"cf-mitigated": "challenge"}, url=url)
    assert type(api_challenge) is TransientSourceError  # not BotChallengeError: `auto` must not switch

    limited = status_error(API, 429, {"Retry-After": "1.5"}, url=url)  # decimals were refused by one parser
    assert isinstance(limited, TransientSourceError) and limited.retry_after == 1.5
    assert str(limited) == f"Beatport API rate-limited the request for {url} (HTTP 429)"
    assert str(status_error(API, 502, {}, url=url)) == f"Beatport API answered HTTP 502 for {url}"

    missing = status_error(API, 404, {}, url=url)
    assert isinstance(missing, PermanentSourceError) and "HTTP 404" in str(missing)
    refused = status_error(API, 403, {}, url=url, body=b'{"detail": "Territory  restricted."}')
    assert str(refused) == f"Beatport API refused {url} with HTTP 403: Territory restricted."
    assert str(status_error(API, 400, {}, url=url, body=b"<html>secret page</html>")).endswith("HTTP 400")


# -- sending: capped reads, transport errors, redirects ------------------------------------------------------
SiteClientFactory = Callable[..., SiteClient]


@pytest.fixture
async def site_client() -> AsyncIterator[SiteClientFactory]:
    """SiteClients over MockTransports (closed afterwards): `site_client(handler, site=..., limiter=...)`."""
    clients: list[httpx.AsyncClient] = []

    def build(
        handler: Callable[[httpx.Request], httpx.Response],
        site: Site = API,
        limiter: AsyncRateLimiter | None = None,
    ) -> SiteClient:
        clients.append(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        return SiteClient(clients[-1], site=site, limiter=limiter or AsyncRateLimiter(None))

    yield build
    for client in clients:
        await client.aclose()


async def test_a_body_over_the_cap_is_refused_before_reading_it(site_client: SiteClientFactory) -> None:
    http = site_client(
        lambda request: httpx.Response(200, content=b"x" * 101), Site(name="S", max_body_bytes=100)
    )
    with pytest.raises(
        PermanentSourceError, match=r"S answer for https://s.example/a is 101 bytes, over the 100-byte cap"
    ):
        await http.send("GET", "https://s.example/a")


async def test_a_streamed_body_stops_past_the_cap(site_client: SiteClientFactory) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"x" * 40

    http = site_client(
        lambda request: httpx.Response(200, content=endless()), Site(name="S", max_body_bytes=100)
    )
    with pytest.raises(PermanentSourceError, match="exceeded the 100-byte cap"):
        await http.send("GET", "https://s.example/a")
    assert sent == 3  # 120 bytes: read no further than the chunk that crossed the cap

    small = site_client(
        lambda request: httpx.Response(200, content=b"x" * 100), Site(name="S", max_body_bytes=100)
    )
    assert (await small.send("GET", "https://s.example/a")).body == b"x" * 100


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            httpx.ConnectTimeout("t"),
            "Beatport API did not answer in time for https://s.example/a (ConnectTimeout)",
        ),
        (httpx.ReadTimeout("t"), "Beatport API did not answer in time for https://s.example/a (ReadTimeout)"),
        (
            httpx.ConnectError("refused"),
            "Could not reach Beatport API for https://s.example/a (ConnectError)",
        ),
        (
            httpx.RemoteProtocolError("eof"),
            "Could not reach Beatport API for https://s.example/a (RemoteProtocolError)",
        ),
    ],
)
async def test_transport_errors_are_transient_and_name_the_url(
    site_client: SiteClientFactory, error: httpx.TransportError, message: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    http = site_client(fail)
    with pytest.raises(TransientSourceError) as caught:
        await http.send("GET", "https://s.example/a")
    assert str(caught.value) == message and caught.value.__cause__ is error
    assert http.requests_made == 1


def test_requests_transport_errors_map_the_same_way() -> None:
    url = "https://api.spotify.example/v1/search"
    assert str(transport_error("Spotify", requests.ReadTimeout(), url=url)) == (
        f"Spotify did not answer in time for {url} (ReadTimeout)"
    )
    assert str(transport_error("Spotify", requests.ConnectionError(), url=url)) == (
        f"Could not reach Spotify for {url} (ConnectionError)"
    )


async def test_same_origin_redirects_are_followed_and_others_refused(site_client: SiteClientFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        if request.url.path == "/away":
            return httpx.Response(302, headers={"Location": "https://other.example:8443/x"})
        return httpx.Response(200, content=b"here")

    http = site_client(handler)
    answer = await http.send("GET", "https://s.example/old")
    assert (str(answer.url), answer.body, http.requests_made) == ("https://s.example/new", b"here", 2)
    with pytest.raises(PermanentSourceError) as caught:
        await http.send("GET", "https://s.example/away")
    assert "https://s.example → https://other.example:8443" in str(caught.value)
    unfollowed = await http.send("GET", "https://s.example/away", follow_redirects=False)
    assert unfollowed.is_redirect and unfollowed.status == 302


async def test_a_retry_after_pauses_every_caller_of_the_site(site_client: SiteClientFactory) -> None:
    limiter = AsyncRateLimiter(None)
    http = site_client(lambda r: httpx.Response(429, headers={"Retry-After": "0.3"}), limiter=limiter)
    answer = await http.send("GET", "https://s.example/a")
    with pytest.raises(TransientSourceError):
        http.raise_for_status(answer)
    started = time.monotonic()
    await limiter.acquire()  # any caller sharing the site's budget waits out the server's Retry-After
    assert time.monotonic() - started >= 0.25


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)):
        for _ in range(20):
            assert full / 2 <= backoff_seconds(attempt, base=1.0, cap=8.0) <= full
