"""SpotifyClient against FakeSpotify over real loopback HTTP: spotipy is configured only through Settings."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.config import Settings
from app.errors import PermanentSourceError, TransientSourceError
from app.services.spotify_matching import artist_fields
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify import (
    CREDENTIALS_REJECTED,
    SpotifyClient,
    SpotifyNotConfigured,
    SpotifyNotFound,
    SpotifyQuotaExceeded,
    process_limiter,
)
from tests.fakes.server import FakeResponse
from tests.fakes.spotify import (
    FakeSpotify,
    quota_exceeded,
    rate_limited,
    server_error,
    token_expired,
)

ISRC = "GBXYZ2500042"
ARTIST_ID = "3kQ9mZx2Lr7TnV4bWc8pYd"
FAST_RETRIES: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05}


def make_settings(fake: FakeSpotify, *, secret: str = "secret", **overrides: Any) -> Settings:
    return Settings(
        spotify_client_id="id",
        spotify_client_secret=secret,
        spotify_api_url=fake.api_url,
        spotify_auth_url=fake.auth_url,
        _env_file=None,
        **overrides,
    )


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeSpotify]:
    # One server for the module (stopping one costs ~0.5 s of serve_forever polling); reset per test.
    with FakeSpotify(client_id="id", client_secret="secret") as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeSpotify) -> FakeSpotify:
    fake_server.reset()
    fake_server.add_track(
        name="Night Drive - Extended Mix",
        artists=["Example Artist", "Second Example"],
        artist_ids=[ARTIST_ID, "5hJr2Ns8Qw1Xk6Pz0Lm3Vb"],
        isrc=ISRC,
    )
    return fake_server


@pytest.fixture
async def client(fake: FakeSpotify) -> AsyncIterator[SpotifyClient]:
    # Own unpaced limiter: the process-wide one would carry Retry-After holds from test to test.
    async with SpotifyClient.from_settings(
        make_settings(fake), limiter=AsyncRateLimiter(None), **FAST_RETRIES
    ) as c:
        yield c


# -- token and configuration -----------------------------------------------------------------------------
async def test_token_fetched_once_cached_in_memory_no_cache_file(
    fake: FakeSpotify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # spotipy's default CacheFileHandler would write ./.cache here
    settings = make_settings(fake, spotify_market="DE")
    async with SpotifyClient.from_settings(settings, limiter=AsyncRateLimiter(None)) as client:
        items = await client.search_tracks(f"isrc:{ISRC}")
        track = await client.get_track(items[0]["id"])
        artist = await client.get_artist(track["artists"][0]["id"])

        assert [i["external_ids"]["isrc"] for i in items] == [ISRC]
        assert artist["name"] == "Example Artist"
        assert fake.counts["token"] == 1
        assert client.token_requests == 1
        assert client.requests_made == 3
    assert not any(p.name.startswith(".cache") for p in tmp_path.iterdir())  # noqa: ASYNC240

    search = fake.server.requests_to("/v1/search")[0]
    assert search.query["q"] == [f"isrc:{ISRC}"]
    assert search.query["market"] == ["DE"]  # SPOTIFY_MARKET is the default market
    assert search.query["limit"] == ["10"]
    assert search.headers["authorization"].startswith("Bearer BQDfake")
    assert fake.counts["tracks_batch"] == fake.counts["artists_batch"] == 0


async def test_a_session_handed_in_carries_every_request_and_stays_open(fake: FakeSpotify) -> None:
    sent: list[str] = []
    session = requests.Session()
    session.headers["X-Test"] = "injected"
    session.hooks["response"].append(lambda response, *args, **kwargs: sent.append(response.url))
    async with SpotifyClient.from_settings(
        make_settings(fake), limiter=AsyncRateLimiter(None), session=session
    ) as client:
        await client.get_artist(ARTIST_ID)
        assert (client.requests_made, client.token_requests) == (1, 1)
    assert [url.removeprefix(fake.server.url) for url in sent] == ["/api/token", f"/v1/artists/{ARTIST_ID}"]
    assert all(r.headers["x-test"] == "injected" for r in fake.server.requests)
    # The caller's session is the caller's to close: it still works.
    assert session.get(f"{fake.server.url}/v1/artists/{ARTIST_ID}", timeout=5).status_code == 401
    session.close()


async def test_expired_token_is_dropped_and_fetched_again_once(
    fake: FakeSpotify, client: SpotifyClient
) -> None:
    await client.search_tracks(f"isrc:{ISRC}")
    fake.expire_tokens()

    items = await client.search_tracks(f"isrc:{ISRC}")

    assert len(items) == 1
    assert fake.counts["token"] == 2
    assert client.requests_made == 3  # ok, 401, ok


async def test_repeated_401_is_permanent(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.fail_api(token_expired(), token_expired())
    with pytest.raises(PermanentSourceError, match="401"):
        await client.search_tracks(f"isrc:{ISRC}")
    assert fake.counts["search"] == 2
    assert fake.counts["token"] == 2


async def test_bad_credentials_fail_at_once_without_leaking_the_secret(
    fake: FakeSpotify, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-secret-value-1234"
    caplog.set_level(logging.DEBUG)
    async with SpotifyClient.from_settings(
        make_settings(fake, secret=secret), limiter=AsyncRateLimiter(None), backoff_base=1.0
    ) as client:
        started = time.monotonic()
        with pytest.raises(PermanentSourceError) as caught:
            await client.search_tracks(f"isrc:{ISRC}")
        elapsed = time.monotonic() - started

    assert str(caught.value) == CREDENTIALS_REJECTED == "Spotify rejected the client credentials"
    assert elapsed < 0.5  # no backoff (base 1 s) was slept
    assert fake.counts["token"] == 1
    assert fake.api_requests == 0
    assert client.requests_made == 0
    basic = base64.b64encode(f"id:{secret}".encode()).decode()
    texts = [str(caught.value), repr(caught.value), str(caught.value.__context__), caplog.text]
    assert not any(secret in text or basic in text for text in texts)


async def test_token_endpoint_5xx_is_retried(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.fail_token(server_error(503))
    assert len(await client.search_tracks(f"isrc:{ISRC}")) == 1
    assert fake.counts["token"] == 2
    assert client.requests_made == 1  # token requests are not API requests


def test_missing_credentials_raise_not_configured() -> None:
    settings = Settings(spotify_client_id="id", _env_file=None)
    with pytest.raises(SpotifyNotConfigured, match="SPOTIFY_CLIENT_SECRET") as caught:
        SpotifyClient.from_settings(settings)
    assert caught.value.missing == ["SPOTIFY_CLIENT_SECRET"]
    assert isinstance(caught.value, PermanentSourceError)


def test_process_limiter_is_shared() -> None:
    assert process_limiter(2.0) is process_limiter(2.0)
    assert process_limiter(0).unlimited and process_limiter(None) is process_limiter(0)


# -- rate limits -----------------------------------------------------------------------------------------
async def test_short_429_waits_retry_after_then_succeeds(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.fail_api(rate_limited(retry_after=1))

    started = time.monotonic()
    items = await client.search_tracks(f"isrc:{ISRC}")
    elapsed = time.monotonic() - started

    assert len(items) == 1
    assert 0.9 <= elapsed < 3
    assert fake.counts["search"] == 2
    assert client.requests_made == 2
    first, second = fake.api_request_times
    assert second - first >= 0.95


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        pytest.param(quota_exceeded(retry_after=3600), 3600, id="QUOTA_EXCEEDED body"),
        pytest.param(quota_exceeded(retry_after=5), 5, id="QUOTA_EXCEEDED, short header"),
        pytest.param(rate_limited(retry_after=7200), 7200, id="long Retry-After"),
    ],
)
async def test_quota_exceeded_raises_with_retry_after(
    fake: FakeSpotify, client: SpotifyClient, response: FakeResponse, retry_after: int
) -> None:
    fake.fail_api(response)

    started = time.monotonic()
    with pytest.raises(SpotifyQuotaExceeded) as caught:
        await client.search_tracks(f"isrc:{ISRC}")

    assert time.monotonic() - started < 0.5  # not slept on
    assert isinstance(caught.value, TransientSourceError)
    assert caught.value.retry_after == retry_after
    expected_resume = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_after)
    assert abs((caught.value.resume_at - expected_resume).total_seconds()) < 5
    assert fake.counts["search"] == 1

    # Until the resume time the client answers for Spotify instead of spending a request.
    with pytest.raises(SpotifyQuotaExceeded):
        await client.get_artist(ARTIST_ID)
    assert fake.api_requests == 1


async def test_too_many_429s_give_up_as_transient(fake: FakeSpotify) -> None:
    fake.fail_api(rate_limited(retry_after=0), rate_limited(retry_after=0))
    async with SpotifyClient.from_settings(
        make_settings(fake), limiter=AsyncRateLimiter(None), max_attempts=2
    ) as c:
        with pytest.raises(TransientSourceError, match="gave up after 2 attempts") as caught:
            await c.search_tracks(f"isrc:{ISRC}")
    assert not isinstance(caught.value, SpotifyQuotaExceeded)
    assert caught.value.retry_after == 0


# -- server errors and network failures ------------------------------------------------------------------
async def test_500_twice_then_success(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.fail_api(server_error(500), server_error(503))

    items = await client.search_tracks(f"isrc:{ISRC}")

    assert len(items) == 1
    assert fake.counts["search"] == 3
    assert client.requests_made == 3


async def test_persistent_500_gives_up_after_max_attempts(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.fail_api(*(server_error(502) for _ in range(5)))
    with pytest.raises(TransientSourceError, match=r"HTTP 502 .*gave up after 4 attempts"):
        await client.get_artist(ARTIST_ID)
    assert fake.counts["artist"] == 4


async def test_read_timeout_is_retried(fake: FakeSpotify) -> None:
    fake.fail_api(FakeResponse.json({}, delay=0.6))  # answers after the client gave up
    async with SpotifyClient.from_settings(
        make_settings(fake), limiter=AsyncRateLimiter(None), timeout=0.2, **FAST_RETRIES
    ) as c:
        items = await c.search_tracks(f"isrc:{ISRC}")
        assert len(items) == 1
        assert c.requests_made == 2


async def test_unreachable_server_is_transient() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        spotify_client_id="id",
        spotify_client_secret="secret",
        spotify_api_url=f"{url}/v1/",
        spotify_auth_url=f"{url}/api/token",
        _env_file=None,
    )
    async with SpotifyClient.from_settings(
        settings, limiter=AsyncRateLimiter(None), max_attempts=2, **FAST_RETRIES
    ) as c:
        with pytest.raises(TransientSourceError, match="ConnectionError"):
            await c.search_tracks(f"isrc:{ISRC}")


async def test_unknown_id_is_not_found(client: SpotifyClient) -> None:
    with pytest.raises(SpotifyNotFound):
        await client.get_track("0000000000000000000000")


async def test_search_limit_is_capped_at_ten(fake: FakeSpotify, client: SpotifyClient) -> None:
    with pytest.raises(ValueError, match="between 1 and 10"):
        await client.search_tracks("x", limit=11)
    assert fake.api_requests == 0


async def test_artist_without_genres(fake: FakeSpotify, client: SpotifyClient) -> None:
    fake.add_artist("7aBcDeFgHiJkLmNoPqRsTu", "No Genres", genres=None)
    fake.add_artist("8aBcDeFgHiJkLmNoPqRsTu", "Unclassified", genres=[])
    assert artist_fields(await client.get_artist("7aBcDeFgHiJkLmNoPqRsTu"))["genres"] is None
    assert artist_fields(await client.get_artist("8aBcDeFgHiJkLmNoPqRsTu"))["genres"] == []


# -- concurrency and pacing ------------------------------------------------------------------------------
async def test_event_loop_stays_responsive_during_a_slow_call(
    fake: FakeSpotify, client: SpotifyClient
) -> None:
    fake.latency = 1.0
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        started = time.monotonic()
        items = await client.search_tracks(f"isrc:{ISRC}")
        elapsed = time.monotonic() - started
    finally:
        task.cancel()
    assert len(items) == 1
    assert elapsed >= 1.0
    assert ticks >= 10  # ~20 expected; a blocking call would allow none


async def test_rate_limiter_spaces_requests(fake: FakeSpotify) -> None:
    async with SpotifyClient.from_settings(make_settings(fake), limiter=AsyncRateLimiter(20)) as c:
        started = time.monotonic()
        await asyncio.gather(*(c.get_artist(ARTIST_ID) for _ in range(6)))
        elapsed = time.monotonic() - started
        assert c.requests_made == 6

    # 6 requests at 20/s: slots 0, 50, …, 250 ms after `started`. A request can arrive late (the machine is
    # busy), never before its slot; so the n-th arrival comes at least n slots after `started`, however the
    # arrivals jitter (gaps between two late ones may be anything).
    times = sorted(fake.api_request_times)
    assert len(times) == 6
    for slot, arrived in enumerate(times):
        assert arrived - started >= slot * 0.05 - 0.001, (slot, [t - started for t in times])
    assert elapsed >= 5 * 0.05 - 0.001


async def test_limiter_hold_pauses_every_caller() -> None:
    limiter = AsyncRateLimiter(None)
    limiter.hold(0.2)
    started = time.monotonic()
    await asyncio.gather(limiter.acquire(), limiter.acquire())
    assert time.monotonic() - started >= 0.18
    started = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - started < 0.05  # unlimited again afterwards
