"""The Beatport API v4 source against FakeBeatportApi (real loopback HTTP), real Redis and PostgreSQL.

Auth (login → authorize → token, bad login, pasted token, single-use refresh tokens shared through Redis),
paging, error classification, and `auto` collection: when the page fake challenges, the collection completes
through the API and stores exactly the rows a page-based collection of the same tracks stores.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import migrate
from app.config import BeatportSource, Settings
from app.db.base import Base
from app.db.models import (
    Artist,
    ChartEntry,
    ChartSnapshot,
    Genre,
    Label,
    Release,
    SubGenre,
    Track,
    TrackArtist,
)
from app.db.session import create_engine, create_sessionmaker
from app.errors import BotChallengeError, PermanentSourceError, TransientSourceError
from app.runtime.redis_connection import connect_redis
from app.services.collection import SWITCHED_TO_API, CollectionService, CollectionSummary
from app.services.resources import Resources
from app.sources.beatport.api import BeatportApiClient, parse_envelope
from app.sources.beatport.auth import (
    ApiToken,
    MemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    parse_pasted_token,
    token_store_for,
)
from app.sources.beatport.challenges import CHALLENGE_KEY, ChallengeMemory
from app.sources.beatport.fetcher import BeatportFetcher
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import parse_target
from app.sources.ratelimit import AsyncRateLimiter
from tests.conftest import fresh_pg_database
from tests.fakes.beatport import (
    ARTIST_TRACKS_PATH,
    CHALLENGE_HEADERS,
    CHART_PATH,
    ID_OFFSET_STEP,
    LABEL_TRACKS_PATH,
    RELEASE_PATH,
    TOP100_PATH,
    TRACK_PATH,
    FakeBeatport,
)
from tests.fakes.beatport_api import (
    EMPTY_RESULT_JSON,
    GENRE_TRACKS_JSON,
    LABEL_ID,
    SEARCH_TRACKS_JSON,
    FakeBeatportApi,
    load_api_json,
)
from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse
from tests.fixtures.beatport import (
    CHALLENGE_HTML,
    GENRE_TOP100_PATH,
    LABEL_TRACKS_HTML,
    genre_top100_html,
    genre_top100_tracks,
    load_text,
)

GENRE_TOP100 = parse_target(GENRE_TOP100_PATH)
TOP100 = parse_target(TOP100_PATH)
LABEL_TRACKS = parse_target(LABEL_TRACKS_PATH)


# -- helpers -----------------------------------------------------------------------------------------------
@pytest.fixture
def fake_api() -> Iterator[FakeBeatportApi]:
    with FakeBeatportApi() as fake:
        yield fake


TEST_SECRET_KEY = SecretStr("test-secret-key-for-sealed-tokens")


def api_settings(fake: FakeBeatportApi, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": TEST_SECRET_KEY,
        "beatport_api_url": fake.api_url,
        "beatport_username": fake.username,
        "beatport_password": SecretStr(fake.password),
        "beatport_api_requests_per_second": 1000,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with BeatportApiClient.build_client(Settings(_env_file=None)) as client:
        yield client


def make_api(
    settings: Settings, http: httpx.AsyncClient, store: TokenStore | None = None
) -> BeatportApiClient:
    client = BeatportApiClient.from_settings(
        settings, client=http, limiter=AsyncRateLimiter(None), token_store=store or MemoryTokenStore()
    )
    client._backoff_base = 0.001  # keep inline retries fast in tests
    return client


def shifted_tracks(total: int) -> list[dict[str, Any]]:
    """`total` distinct real track objects: the Top 100, then copies with every id shifted."""
    real = genre_top100_tracks()
    tracks = []
    for index in range(total):
        track = copy.deepcopy(real[index % len(real)])
        offset = (index // len(real)) * ID_OFFSET_STEP
        track["id"] += offset
        for artist in [*track["artists"], *track["remixers"]]:
            artist["id"] += offset
        track["release"]["id"] += offset
        tracks.append(track)
    return tracks


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


class Progress:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def __call__(self, *, done: int, total: int | None, message: str) -> None:
        self.messages.append(message)


def page_fetcher(base_url: str, http: httpx.AsyncClient) -> BeatportFetcher:
    return BeatportFetcher(
        client=http,
        base_url=base_url,
        limiter=AsyncRateLimiter(None),
        max_response_bytes=5 * 1024 * 1024,
        attempts=2,
        backoff_base_seconds=0.001,
    )


# -- envelope (real captures) ------------------------------------------------------------------------------
def test_envelope_of_real_captures() -> None:
    genre = parse_envelope(load_api_json(GENRE_TRACKS_JSON), url="x")
    assert (genre.page, genre.last_page, genre.per_page, genre.count) == (1, 3334, 3, 10000)
    assert genre.has_next and len(genre.items) == 3  # `next` is scheme-less in the capture
    search = parse_envelope(load_api_json(SEARCH_TRACKS_JSON), url="x")
    assert (search.page, search.last_page, len(search.items)) == (1, 1035, 3)  # items under `tracks`
    empty = parse_envelope(load_api_json(EMPTY_RESULT_JSON), url="x")
    assert (empty.items, empty.count, empty.has_next) == ([], 0, False)
    with pytest.raises(PermanentSourceError, match="no `results` list"):
        parse_envelope({"detail": "x"}, url="https://api.example/v4/catalog/x/")


# -- auth --------------------------------------------------------------------------------------------------
async def test_login_flow_then_catalog_read(fake_api: FakeBeatportApi, http: httpx.AsyncClient) -> None:
    api = make_api(api_settings(fake_api), http)
    parsed = await api.fetch_page(GENRE_TOP100)

    # Same tracks, positions and title as the page parser reads from the real Top 100 page.
    from_page = parse_html(genre_top100_html(), kind=GENRE_TOP100.kind, url="page")
    assert parsed.tracks == from_page.tracks
    assert parsed.positions == from_page.positions == tuple(range(1, 101))
    assert parsed.title == from_page.title == "Tech House"

    login, authorize, token, catalog = fake_api.requests
    assert (login.method, login.path) == ("POST", "/v4/auth/login/")
    assert login.headers["origin"] == "https://www.beatport.com"
    assert "Chrome/" in login.headers["user-agent"]
    assert (authorize.method, authorize.path) == ("GET", "/v4/auth/o/authorize/")
    assert authorize.headers["cookie"].startswith("sessionid=")
    assert token.headers["referer"] == f"{fake_api.api_url}auth/o/authorize/"
    assert (catalog.path, catalog.query["per_page"]) == ("/v4/catalog/genres/11/top/100/", ["100"])
    assert catalog.headers["authorization"].startswith("Bearer fakeacc_")
    # The authorize redirect was not followed (it points at post-message/, which nobody asked for).
    assert not [r for r in fake_api.requests if "post-message" in r.path]
    assert (fake_api.logins, fake_api.code_exchanges, fake_api.refresh_attempts) == (1, 1, 0)

    # The token is reused: no second login.
    await api.fetch_page(TOP100)
    assert fake_api.logins == 1 and api.auth.logins == 1


async def test_bad_login_is_a_clear_permanent_error(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    api = make_api(api_settings(fake_api, beatport_password=SecretStr("wrong-password-123")), http)
    with pytest.raises(PermanentSourceError) as caught:
        await api.fetch_page(GENRE_TOP100)
    message = str(caught.value)
    assert "BEATPORT_USERNAME and BEATPORT_PASSWORD" in message
    assert "HTTP 200" in message and "Unable to log in" in message
    assert "wrong-password-123" not in message
    assert fake_api.login_attempts == 1 and fake_api.logins == 0
    assert not fake_api.catalog_requests() and not fake_api.server.requests_to("/v4/auth/o/authorize/")

    # Whatever Beatport puts in the error body, the password does not reach our message.
    fake_api.server.add(
        "POST", "/v4/auth/login/", FakeResponse.json({"detail": "bad password wrong-password-123"})
    )
    with pytest.raises(PermanentSourceError) as caught:
        await api.fetch_page(GENRE_TOP100)
    assert "wrong-password-123" not in str(caught.value) and "[redacted]" in str(caught.value)


async def test_login_request_refused_by_csrf_check_is_permanent(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    fake_api.server.add(
        "POST",
        "/v4/auth/login/",
        FakeResponse.json({"detail": "CSRF Failed: Referer checking failed - no Referer."}, 403),
    )
    with pytest.raises(PermanentSourceError, match=r"refused the login request \(HTTP 403: CSRF Failed"):
        await make_api(api_settings(fake_api), http).fetch_page(TOP100)


@pytest.mark.parametrize("shape", ["raw", "bearer", "json", "jwt"])
async def test_pasted_token_is_used_without_login(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient, shape: str
) -> None:
    issued = fake_api.issue_token(jwt=shape == "jwt")
    pasted = {
        "raw": issued["access_token"],
        "bearer": f"Bearer {issued['access_token']}",
        "json": json.dumps(issued),
        "jwt": issued["access_token"],
    }[shape]
    settings = api_settings(
        fake_api, beatport_username=None, beatport_password=None, beatport_api_token=SecretStr(pasted)
    )
    parsed = await make_api(settings, http).fetch_page(TOP100)
    assert len(parsed.tracks) == 100
    assert fake_api.login_attempts == 0 and fake_api.refresh_attempts == 0
    if shape == "jwt":
        token = parse_pasted_token(pasted)
        assert token.expires_at is not None and abs(token.expires_at - (time.time() + 36000)) < 5


async def test_expired_pasted_token_is_refreshed_with_its_refresh_token(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    issued = fake_api.issue_token(ttl=-10, jwt=True)  # the JWT's exp is already past
    settings = api_settings(
        fake_api,
        beatport_username=None,
        beatport_password=None,
        beatport_api_token=SecretStr(json.dumps(issued)),
    )
    await make_api(settings, http).fetch_page(TOP100)
    assert (fake_api.refreshes, fake_api.unauthorized, fake_api.login_attempts) == (1, 0, 0)


async def test_rejected_pasted_token_without_credentials_says_what_to_do(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    settings = api_settings(
        fake_api,
        beatport_username=None,
        beatport_password=None,
        beatport_api_token=SecretStr("not-a-token-anyone-issued"),
    )
    with pytest.raises(
        PermanentSourceError, match="pasted BEATPORT_API_TOKEN is no longer accepted"
    ) as caught:
        await make_api(settings, http).fetch_page(TOP100)
    assert "not-a-token-anyone-issued" not in str(caught.value)
    assert fake_api.unauthorized == 1


async def test_401_triggers_one_refresh_and_one_retry(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    api = make_api(api_settings(fake_api), http)
    await api.fetch_page(TOP100)
    fake_api.expire_access_tokens()  # server-side: our recorded expiry still says valid
    parsed = await api.fetch_page(GENRE_TOP100)
    assert len(parsed.tracks) == 100
    assert (fake_api.unauthorized, fake_api.refreshes, fake_api.logins) == (1, 1, 1)
    assert fake_api.live_refresh_tokens() == 1  # the spent refresh token was replaced, not reused

    # A freshly issued token that is still refused: one renewal, then a permanent error (no loop).
    refused = FakeResponse.json({"detail": "Authentication credentials were not provided."}, 401)
    fake_api.server.add("GET", "/v4/catalog/top/100/", refused)
    with pytest.raises(PermanentSourceError, match="rejected a freshly issued token"):
        await api.fetch_page(TOP100)
    assert fake_api.refreshes == 2


async def test_spent_refresh_token_falls_back_to_a_full_login(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    store = MemoryTokenStore()
    api = make_api(api_settings(fake_api), http, store)
    await api.fetch_page(TOP100)
    token = await store.load()
    assert token is not None
    # Someone else spent our refresh token (e.g. a second deployment sharing the account).
    fake_api.server.requests.clear()
    await store.save(dataclasses.replace(token, refresh_token="fakeref_already-spent", expires_at=0.0))
    await api.fetch_page(TOP100)
    assert (fake_api.refresh_attempts, fake_api.refreshes, fake_api.logins) == (1, 0, 2)


async def test_token_expiry_mid_collection_refreshes_once_and_loses_no_page(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tracks = shifted_tracks(350)  # 150 + 150 + 50 at the default page size
    fake_api.serve_list(f"catalog/tracks/?label_id={LABEL_ID}", tracks)
    progress = Progress()

    async def expire_after_first_page(*, done: int, total: int | None, message: str) -> None:
        await progress(done=done, total=total, message=message)
        if done == 1:
            fake_api.expire_access_tokens()

    async with httpx.AsyncClient() as page_http:
        service = CollectionService(
            sessions=sessions,
            fetcher=page_fetcher("http://127.0.0.1:9", page_http),
            api=make_api(api_settings(fake_api), http),
            source="api",
            progress=expire_after_first_page,
        )
        summary = await service.collect(target=LABEL_TRACKS, run_id="run-1")

    assert (summary.pages_fetched, summary.tracks_seen, summary.tracks_created) == (3, 350, 350)
    assert summary.sources == [f"page {n}: api (BEATPORT_SOURCE=api)" for n in (1, 2, 3)]
    assert (fake_api.unauthorized, fake_api.refreshes, fake_api.logins) == (1, 1, 1)
    pages = [r.query["page"][0] for r in fake_api.catalog_requests()]
    assert pages == ["1", "2", "2", "3"]  # page 2 answered 401 once, then was fetched again
    async with sessions() as session:
        stored = set((await session.scalars(select(Track.id))).all())
    assert stored == {t["id"] for t in tracks}
    assert "page 3/3 stored via api (BEATPORT_SOURCE=api), 350 tracks so far" in progress.messages[-1]


# -- shared token cache (Redis) ----------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["expired in the cache", "revoked by Beatport (401)"])
async def test_two_workers_refreshing_at_once_send_one_refresh(
    fake_api: FakeBeatportApi, redis_url: str, how: str
) -> None:
    settings = api_settings(fake_api)
    redis_a, redis_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        stores = [
            token_store_for(
                api_url=fake_api.api_url,
                username=fake_api.username,
                pasted_token=None,
                redis=r,
                secret_key=TEST_SECRET_KEY,
            )
            for r in (redis_a, redis_b)
        ]
        assert all(isinstance(s, RedisTokenStore) for s in stores)
        async with (
            BeatportApiClient.build_client(settings) as http_a,
            BeatportApiClient.build_client(settings) as http_b,
        ):
            worker_a, worker_b = make_api(settings, http_a, stores[0]), make_api(settings, http_b, stores[1])
            await worker_a.fetch_page(TOP100)  # logs in; worker B finds the token in Redis
            await worker_b.fetch_page(TOP100)
            assert (fake_api.logins, fake_api.refresh_attempts) == (1, 0)

            if how == "expired in the cache":
                token = await stores[0].load()
                assert token is not None
                await stores[0].save(dataclasses.replace(token, expires_at=time.time() - 1))
            else:
                fake_api.expire_access_tokens()
            fake_api.token_delay = 0.3  # the first refresher is still waiting when the second one asks

            first, second = await asyncio.gather(
                worker_a.fetch_page(GENRE_TOP100), worker_b.fetch_page(GENRE_TOP100)
            )
        assert len(first.tracks) == len(second.tracks) == 100
        assert (fake_api.refresh_attempts, fake_api.refreshes, fake_api.logins) == (1, 1, 1)
        assert fake_api.live_refresh_tokens() == 1
        stored = await stores[1].load()
        assert stored is not None and stored.source == "refresh" and stored.valid(margin=60)
        # Sealed at rest: no key or value in Redis holds either token in clear.
        everything = [key async for key in redis_a.scan_iter()]
        values = [await redis_a.dump(key) or b"" for key in everything]
        for secret in (stored.access_token, stored.refresh_token):
            assert secret and all(secret.encode() not in blob for blob in [*everything, *values])
    finally:
        await redis_a.aclose()
        await redis_b.aclose()


async def test_a_token_sealed_with_another_secret_key_means_logging_in_again(
    fake_api: FakeBeatportApi, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        store_for = functools.partial(
            token_store_for,
            api_url=fake_api.api_url,
            username=fake_api.username,
            pasted_token=None,
            redis=redis,
        )
        old = store_for(secret_key=TEST_SECRET_KEY)
        await old.save(
            ApiToken(access_token="a-token", refresh_token="r-token", expires_at=time.time() + 600)
        )
        assert (await old.load()) is not None
        rotated = store_for(secret_key=SecretStr("another-secret-key-of-enough-length"))
        assert await rotated.load() is None  # not misread: the worker logs in again
        with pytest.raises(ValueError, match="SECRET_KEY"):
            store_for(secret_key=None)
    finally:
        await redis.aclose()


async def test_tasks_of_one_embedded_process_share_one_refresh(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    store = MemoryTokenStore()
    clients = [make_api(api_settings(fake_api), http, store) for _ in range(3)]
    await clients[0].fetch_page(TOP100)
    fake_api.expire_access_tokens()
    await asyncio.gather(*(c.fetch_page(TOP100) for c in clients))
    assert (fake_api.refreshes, fake_api.logins) == (1, 1)


async def test_resources_choose_the_token_store(
    fake_api: FakeBeatportApi, redis_url: str, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    cases: list[tuple[dict[str, Any], type | None]] = [
        ({"redis_url": redis_url}, RedisTokenStore),
        ({}, MemoryTokenStore),
        ({"beatport_source": "pages"}, None),
        ({"beatport_username": None, "beatport_password": None}, None),
    ]
    for overrides, expected in cases:
        settings = api_settings(fake_api, database_url=database_url, **overrides)
        redis = connect_redis(settings.redis_url) if settings.redis_url else None
        resources = Resources.open(settings, redis=redis)
        try:
            api = resources.beatport_api()
            # The challenge memory exists exactly when `auto` can switch to the API.
            assert (resources.challenge_memory is None) == (expected is None)
            if expected is None:
                assert api is None
            else:
                assert api is not None and isinstance(resources.beatport_token_store, expected)
                assert len((await api.fetch_page(TOP100)).tracks) == 100
        finally:
            await resources.close()
            if redis is not None:
                await redis.aclose()


# -- paging, politeness, errors ----------------------------------------------------------------------------
async def test_paging_builds_page_urls_from_our_own_base(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    api = make_api(api_settings(fake_api), http)
    # Label tracks, page by page at the site's page size (the fixture's label pages hold 2 tracks).
    ids = []
    for page in (1, 2, 3):
        parsed = await api.fetch_page(LABEL_TRACKS, page=page, per_page=2)
        assert (parsed.page, parsed.per_page, parsed.total_count) == (page, 2, 6)
        ids += [t.id for t in parsed.tracks]
    assert len(set(ids)) == 6
    requests = fake_api.catalog_requests()
    assert [(r.path, r.query["label_id"], r.query["page"]) for r in requests] == [
        ("/v4/catalog/tracks/", [str(LABEL_ID)], [str(n)]) for n in (1, 2, 3)
    ]

    # A chart longer than one API page: every API page is read (the fake's `next` points at
    # api.beatport.com without a scheme; the client never follows it) and positions continue.
    long_chart = shifted_tracks(150)
    fake_api.serve_list("catalog/charts/900123/tracks/", long_chart)
    fake_api.server.requests.clear()
    chart = await api.fetch_page(parse_target(CHART_PATH))
    assert [t.id for t in chart.tracks] == [t["id"] for t in long_chart]
    assert chart.positions == tuple(range(1, 151))
    assert chart.title == "Tech House Heat"
    pages = [r.query.get("page") for r in fake_api.catalog_requests() if r.path.endswith("/tracks/")]
    assert pages == [["1"], ["2"]]


async def test_real_track_and_release_captures(fake_api: FakeBeatportApi, http: httpx.AsyncClient) -> None:
    api = make_api(api_settings(fake_api), http)
    track = (await api.fetch_page(parse_target("/track/strobe/19431036"))).tracks[0]
    assert (track.name, track.mix_name, track.isrc, track.bpm, track.length_ms) == (
        "Strobe",
        "Layton Giordani Extended Remix",
        "GBTDG1302861",
        128,
        285000,
    )
    release = await api.fetch_page(parse_target("/release/_/4706244"))
    assert [t.id for t in release.tracks] == [19431036]
    assert release.tracks[0] == track  # list item and detail object map to the same track


async def test_retry_after_is_honoured(fake_api: FakeBeatportApi, http: httpx.AsyncClient) -> None:
    api = make_api(api_settings(fake_api), http)
    await api.fetch_page(TOP100)  # log in first
    fake_api.fail(
        "catalog/top/100/", FakeResponse.json({"detail": "slow down"}, 429, headers={"Retry-After": "1"})
    )
    started = time.monotonic()
    assert len((await api.fetch_page(TOP100)).tracks) == 100
    assert time.monotonic() - started >= 0.9

    # Longer than is worth waiting inside the call: handed to the task's retry policy with its delay.
    fake_api.fail("catalog/top/100/", FakeResponse.json({}, 429, headers={"Retry-After": "120"}))
    started = time.monotonic()
    with pytest.raises(TransientSourceError) as caught:
        await api.fetch_page(TOP100)
    assert caught.value.retry_after == 120 and time.monotonic() - started < 1


async def test_error_classification(fake_api: FakeBeatportApi, http: httpx.AsyncClient) -> None:
    api = make_api(api_settings(fake_api), http)
    with pytest.raises(PermanentSourceError, match=r"HTTP 404"):
        await api.fetch_page(parse_target("/chart/_/1"))
    fake_api.fail("catalog/tracks/29386531/", FakeResponse.json({"detail": "Territory restricted."}, 403))
    with pytest.raises(PermanentSourceError, match="HTTP 403: Territory restricted"):
        await api.fetch_page(parse_target(TRACK_PATH))
    fake_api.fail("catalog/top/100/", FakeResponse(status=502), FakeResponse(status=503))
    assert len((await api.fetch_page(TOP100)).tracks) == 100  # two 5xx retried inline
    fake_api.fail("catalog/top/100/", *[FakeResponse(status=500)] * 3)
    with pytest.raises(TransientSourceError, match="HTTP 500"):
        await api.fetch_page(TOP100)
    fake_api.fail("catalog/top/100/", FakeResponse.html("<html>oops</html>"))
    with pytest.raises(PermanentSourceError, match="not JSON"):
        await api.fetch_page(TOP100)


async def test_redirects_to_another_host_are_not_followed(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    api = make_api(api_settings(fake_api), http)
    # A same-host redirect (Beatport 301s paths without a trailing slash) is followed, with the token.
    fake_api.fail(
        "catalog/top/100/",
        FakeResponse(301, headers={"Location": "/v4/catalog/genres/11/top/100/?per_page=100"}),
    )
    assert (await api.fetch_page(TOP100)).tracks[0].id == genre_top100_tracks()[0]["id"]
    fake_api.fail(
        "catalog/top/100/", FakeResponse(302, headers={"Location": "https://elsewhere.example/v4/x/"})
    )
    with pytest.raises(PermanentSourceError, match="another host"):
        await api.fetch_page(TOP100)


async def test_page_redirects_stay_on_the_site() -> None:
    """A locale redirect on the same host is followed; a page moved to another host is refused, naming both."""
    with FakeHTTPServer() as site, FakeHTTPServer() as elsewhere:
        site.add(
            "GET",
            "/de/genre/tech-house/11/top-100",
            FakeResponse(301, headers={"Location": "/genre/tech-house/11/top-100"}),
        )
        site.add("GET", "/genre/tech-house/11/top-100", FakeResponse.html("<html>the page</html>"))
        site.add("GET", "/chart/_/1", FakeResponse(302, headers={"Location": f"{elsewhere.url}/chart/_/1"}))
        elsewhere.add("GET", "/chart/_/1", FakeResponse.html("<html>not Beatport</html>"))
        async with httpx.AsyncClient() as page_http:
            fetcher = page_fetcher(site.url, page_http)
            page = await fetcher.fetch("/de/genre/tech-house/11/top-100")
            assert page.text == "<html>the page</html>" and fetcher.requests_made == 2
            with pytest.raises(PermanentSourceError) as caught:
                await fetcher.fetch("/chart/_/1")
    assert f"({site.url} → {elsewhere.url})" in str(caught.value)
    assert str(caught.value).startswith(f"Beatport redirected {site.url}/chart/_/1 to another host")
    assert len(site.requests_to("/chart/_/1")) == 1  # permanent: not retried
    assert elsewhere.requests == []


async def test_logins_run_on_the_clients_handed_in(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient
) -> None:
    built: list[httpx.AsyncClient] = []

    def auth_client() -> httpx.AsyncClient:
        built.append(httpx.AsyncClient(headers={"X-Test": "injected"}))
        return built[-1]

    api = BeatportApiClient.from_settings(
        api_settings(fake_api),
        client=http,
        limiter=AsyncRateLimiter(None),
        token_store=MemoryTokenStore(),
        auth_client_factory=auth_client,
    )
    assert len((await api.fetch_page(TOP100)).tracks) == 100
    assert len(built) == 1 and all(c.is_closed for c in built)  # one login, its cookie jar gone with it
    login, authorize, token = (r for r in fake_api.requests if "/auth/" in r.path)
    assert all(r.headers["x-test"] == "injected" for r in (login, authorize, token))
    assert login.headers["origin"] == "https://www.beatport.com"  # the browser headers go with every step
    assert "x-test" not in fake_api.catalog_requests()[0].headers


# -- source selection in the collection service ------------------------------------------------------------
async def test_api_source_without_credentials_fails_clearly(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with httpx.AsyncClient() as page_http:
        service = CollectionService(
            sessions=sessions, fetcher=page_fetcher("http://127.0.0.1:9", page_http), source="api"
        )
        with pytest.raises(PermanentSourceError, match=r"BEATPORT_SOURCE=api.*BEATPORT_API_TOKEN"):
            await service.collect(target=TOP100, run_id="r")


async def test_auto_without_api_credentials_keeps_the_challenge_error_with_a_hint(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with FakeBeatport() as site:
        site.challenge(GENRE_TOP100_PATH)
        async with httpx.AsyncClient() as page_http:
            service = CollectionService(
                sessions=sessions, fetcher=page_fetcher(site.url, page_http), source="auto"
            )
            with pytest.raises(BotChallengeError, match="Set BEATPORT_USERNAME and BEATPORT_PASSWORD"):
                await service.collect(target=GENRE_TOP100, run_id="r")


TARGETS = [
    GENRE_TOP100_PATH,
    TOP100_PATH,
    CHART_PATH,
    RELEASE_PATH,
    TRACK_PATH,
    LABEL_TRACKS_PATH,
    ARTIST_TRACKS_PATH,
]


def serve_all_pages(site: FakeBeatport) -> None:
    site.serve_top100()
    site.serve_chart()
    site.serve_release()
    site.serve_track()
    site.serve_artist_tracks_fixture()
    site.serve_label_tracks_fixture()


def challenge_pages(site: FakeBeatport) -> None:
    """Every page challenged, except the first label page (so that run switches sources mid-way)."""
    blocked = FakeResponse.html(load_text(CHALLENGE_HTML), 403, headers=dict(CHALLENGE_HEADERS))
    for path in (GENRE_TOP100_PATH, TOP100_PATH, CHART_PATH, TRACK_PATH, ARTIST_TRACKS_PATH):
        site.serve(path, blocked)
    # A challenge page served with HTTP 200 is recognised by the parser.
    site.serve(RELEASE_PATH, FakeResponse.html(load_text(CHALLENGE_HTML)))
    first_label_page = load_text(LABEL_TRACKS_HTML[0])

    def label(request: FakeRequest) -> FakeResponse:
        return FakeResponse.html(first_label_page) if request.query.get("page") == ["1"] else blocked

    site.serve(LABEL_TRACKS_PATH, label)


async def collect_all(
    database_url: str, *, site: FakeBeatport, api: BeatportApiClient | None, source: BeatportSource
) -> tuple[dict[str, CollectionSummary], list[str]]:
    engine = create_engine(database_url)
    progress = Progress()
    summaries = {}
    try:
        async with httpx.AsyncClient() as page_http:
            service = CollectionService(
                sessions=create_sessionmaker(engine),
                fetcher=page_fetcher(site.url, page_http),
                api=api,
                source=source,
                progress=progress,
            )
            for path in TARGETS:
                summaries[path] = await service.collect(target=parse_target(path), run_id="run")
    finally:
        await engine.dispose()
    return summaries, progress.messages


async def dump_rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of the catalog tables (timestamps and surrogate ids left out), in key order."""
    engine = create_engine(database_url)
    dump: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for model in (Track, TrackArtist, Release, Label, Artist, Genre, SubGenre):
                table = Base.metadata.tables[model.__tablename__]
                columns = [c for c in table.columns if c.name not in ("created_at", "updated_at")]
                order = list(table.primary_key.columns)
                rows = (await conn.execute(select(*columns).order_by(*order))).all()
                dump[table.name] = [tuple(r) for r in rows]
            entries = await conn.execute(
                select(ChartSnapshot.chart_key, ChartSnapshot.title, ChartEntry.position, ChartEntry.track_id)
                .join(ChartEntry, ChartEntry.snapshot_id == ChartSnapshot.id)
                .order_by(ChartSnapshot.chart_key, ChartEntry.position)
            )
            dump["chart_entries"] = [tuple(r) for r in entries.all()]
    finally:
        await engine.dispose()
    return dump


@pytest.fixture
def second_pg_database_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


async def test_auto_mode_completes_through_the_api_with_identical_rows(
    fake_api: FakeBeatportApi,
    http: httpx.AsyncClient,
    pg_database_url: str,
    second_pg_database_url: str,
) -> None:
    # Reference: every target collected from the pages.
    with FakeBeatport() as site:
        serve_all_pages(site)
        by_pages, _ = await collect_all(pg_database_url, site=site, api=None, source="pages")
    assert all(s.sources == ["page 1: pages"] for p, s in by_pages.items() if p != LABEL_TRACKS_PATH)
    assert by_pages[LABEL_TRACKS_PATH].sources == [f"page {n}: pages" for n in (1, 2, 3)]

    # The same targets while the site challenges: auto switches to the API.
    with FakeBeatport() as site:
        challenge_pages(site)
        by_auto, messages = await collect_all(
            second_pg_database_url, site=site, api=make_api(api_settings(fake_api), http), source="auto"
        )
    for path in TARGETS:
        assert by_auto[path].tracks_seen == by_pages[path].tracks_seen > 0, path
        assert by_auto[path].pages_fetched == by_pages[path].pages_fetched, path
    assert by_auto[GENRE_TOP100_PATH].sources == [f"page 1: api ({SWITCHED_TO_API})"]
    assert by_auto[LABEL_TRACKS_PATH].sources == [
        "page 1: pages",
        "page 2: api (page challenged; used the API)",
        "page 3: api (pages challenged since page 2)",
    ]
    assert any("page 1/1 stored via api (page challenged; used the API)" in m for m in messages)
    assert fake_api.logins == 1  # one login served every target

    reference, collected = await dump_rows(pg_database_url), await dump_rows(second_pg_database_url)
    assert {name: len(rows) for name, rows in collected.items()} == {
        name: len(rows) for name, rows in reference.items()
    }
    assert len(reference["tracks"]) == 100 and len(reference["chart_entries"]) == 210
    for name in reference:
        assert collected[name] == reference[name], name


# -- challenge memory --------------------------------------------------------------------------------------
def auto_service(
    sessions: async_sessionmaker[AsyncSession],
    *,
    site: FakeBeatport,
    page_http: httpx.AsyncClient,
    api: BeatportApiClient,
    memory: ChallengeMemory,
) -> CollectionService:
    return CollectionService(
        sessions=sessions,
        fetcher=page_fetcher(site.url, page_http),
        api=api,
        source="auto",
        challenges=memory,
    )


async def test_a_challenge_sends_later_collections_of_every_worker_straight_to_the_api(
    fake_api: FakeBeatportApi,
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    redis_url: str,
) -> None:
    # Two workers' memories on one Redis, as in a deployment.
    redis_a, redis_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        memory_a, memory_b = (ChallengeMemory(seconds=900, redis=r) for r in (redis_a, redis_b))
        api = make_api(api_settings(fake_api), http)
        with FakeBeatport() as site:
            challenge_pages(site)
            async with httpx.AsyncClient() as page_http:
                first = await auto_service(
                    sessions, site=site, page_http=page_http, api=api, memory=memory_a
                ).collect(target=GENRE_TOP100, run_id="a")
                second = await auto_service(
                    sessions, site=site, page_http=page_http, api=api, memory=memory_b
                ).collect(target=TOP100, run_id="b")
        assert first.sources == [f"page 1: api ({SWITCHED_TO_API})"]
        assert len(site.requests_to(GENRE_TOP100_PATH)) == 2  # the fetcher's attempts, then the switch
        assert site.requests_to(TOP100_PATH) == []  # the other worker did not try the challenged site
        assert second.tracks_seen == 100
        (source,) = second.sources
        assert re.fullmatch(
            r"page 1: api \(pages challenged at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; "
            r"using the API until \d\d:\d\d:\d\d UTC\)",
            source,
        ), source
        assert 890 <= await redis_a.ttl(CHALLENGE_KEY) <= 900  # it forgets on its own
    finally:
        await redis_a.aclose()
        await redis_b.aclose()


async def test_pages_are_tried_again_once_the_memory_expires(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    memory = ChallengeMemory(seconds=1)  # embedded mode: the process's own memory
    api = make_api(api_settings(fake_api), http)
    with FakeBeatport() as site:
        site.challenge(GENRE_TOP100_PATH, times=2, then=genre_top100_html())
        async with httpx.AsyncClient() as page_http:
            service = auto_service(sessions, site=site, page_http=page_http, api=api, memory=memory)
            challenged = await service.collect(target=GENRE_TOP100, run_id="a")
            remembered = await service.collect(target=GENRE_TOP100, run_id="b")
            assert len(site.requests_to(GENRE_TOP100_PATH)) == 2
            await asyncio.sleep(1.05)
            recovered = await service.collect(target=GENRE_TOP100, run_id="c")
    assert challenged.sources == [f"page 1: api ({SWITCHED_TO_API})"]
    assert remembered.sources[0].startswith("page 1: api (pages challenged at ")
    assert recovered.sources == ["page 1: pages"]
    assert len(site.requests_to(GENRE_TOP100_PATH)) == 3
    assert recovered.tracks_seen == challenged.tracks_seen == 100


async def test_a_zero_memory_tries_pages_every_time(
    fake_api: FakeBeatportApi, http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = make_api(api_settings(fake_api), http)
    with FakeBeatport() as site:
        challenge_pages(site)
        async with httpx.AsyncClient() as page_http:
            service = auto_service(
                sessions, site=site, page_http=page_http, api=api, memory=ChallengeMemory(seconds=0)
            )
            for run in ("a", "b"):
                summary = await service.collect(target=GENRE_TOP100, run_id=run)
                assert summary.sources == [f"page 1: api ({SWITCHED_TO_API})"]
    assert len(site.requests_to(GENRE_TOP100_PATH)) == 4


# -- secrets -----------------------------------------------------------------------------------------------
async def test_secrets_never_reach_logs_errors_or_statuses(
    fake_api: FakeBeatportApi,
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    progress = Progress()
    errors: list[str] = []
    api = make_api(api_settings(fake_api), http)
    async with httpx.AsyncClient() as page_http:
        service = CollectionService(
            sessions=sessions,
            fetcher=page_fetcher("http://127.0.0.1:9", page_http),
            api=api,
            source="api",
            progress=progress,
        )
        summary = await service.collect(target=LABEL_TRACKS, run_id="run")  # login
        fake_api.expire_access_tokens()
        summary2 = await service.collect(target=GENRE_TOP100, run_id="run")  # 401 → refresh
    bad = make_api(api_settings(fake_api, beatport_password=SecretStr("hunter2-wrong")), http)
    with pytest.raises(PermanentSourceError) as caught:
        await bad.fetch_page(TOP100)
    errors.append(str(caught.value))
    pasted = "pasted-secret-token-value"
    with pytest.raises(PermanentSourceError) as caught:
        await make_api(
            api_settings(fake_api, beatport_username=None, beatport_api_token=SecretStr(pasted)), http
        ).fetch_page(TOP100)
    errors.append(str(caught.value))
    assert fake_api.refreshes == 1 and fake_api.logins == 1

    token = await api.auth._store.load()
    exposed = "\n".join(
        [
            caplog.text,
            *errors,
            *progress.messages,
            json.dumps(summary.as_dict()),
            json.dumps(summary2.as_dict()),
            repr(token),
            repr(api_settings(fake_api)),
        ]
    )
    secrets = [*fake_api.issued, fake_api.password, "hunter2-wrong", pasted]
    assert len(fake_api.issued) >= 5  # session id, code, two token pairs
    assert "Logged in to the Beatport API" in caplog.text and "refreshed" in caplog.text
    for secret in secrets:
        assert secret not in exposed
    assert isinstance(token, ApiToken)
