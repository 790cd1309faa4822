"""A loopback stand-in for api.beatport.com/v4 (auth and catalog), built on FakeHTTPServer.

Auth: `POST auth/login/` (a bad login is HTTP 200 with an error body), `GET auth/o/authorize/` (302 with the code
in `Location`), `POST auth/o/token/` (authorization_code and refresh_token grants; refresh tokens are single-use
and rotate). Catalog: the real API captures in tests/fixtures/beatport_api and, for endpoints without a public
capture, answers built from the same real track objects the page fake (tests/fakes/beatport.py) serves, so a
target holds the same tracks from either fake. See tests/fixtures/beatport_api/README.md.

    with FakeBeatportApi() as api:
        settings = Settings(beatport_api_url=api.api_url, beatport_username=api.username, ...)
        api.expire_access_tokens()      # server-side expiry: the next catalog call gets 401
        api.fail("catalog/top/100/", FakeResponse(status=429, headers={"Retry-After": "1"}))
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.beatport import CHART_PATH
from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse
from tests.fixtures.beatport import (
    ARTIST_TRACKS_HTML,
    CHART_HTML,
    LABEL_TRACKS_HTML,
    RELEASE_HTML,
    TOP100_HTML,
    TRACK_HTML,
    genre_top100_tracks,
    load_text,
    next_data_of,
)

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "beatport_api"
TRACK_DETAIL_JSON = "catalog-tracks-19431036_track-detail_2026-06.json"
RELEASE_TRACKS_JSON = "catalog-releases-4706244-tracks_per_page-5_2026-06.json"
GENRE_TRACKS_JSON = "catalog-genres-90-tracks_per_page-3_2026-06.json"
SEARCH_TRACKS_JSON = "catalog-search_q-strobe_type-tracks_per_page-3_2026-06.json"
EMPTY_RESULT_JSON = "catalog-tracks_empty-result_2025.json"

DOCS_CLIENT_ID = "0GIvkCltVIuPkkwSJHp6NDb3s0potTjLBQr388Dd"  # the README's known app:docs client id
DEFAULT_USERNAME = "crate-digger"
DEFAULT_PASSWORD = "correct-horse-battery-staple-7"  # a value tests can search logs for
NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
PAGE_DATA_API = "https://api-internal.beatportprod.com/v4/"
REAL_API = "https://api.beatport.com/v4/"
DEFAULT_PER_PAGE = 10  # what the real API uses without per_page
MAX_PER_PAGE = 200

# Ids of the targets the page fake serves (tests/fakes/beatport.py), for the same tracks here.
GENRE_ID = 11
CHART_ID = int(CHART_PATH.rsplit("/", 1)[1])
RELEASE_ID = 7075608
TRACK_ID = 29386531
LABEL_ID = 101510
ARTIST_ID = 298551
REAL_TRACK_ID = 19431036  # real API capture
REAL_RELEASE_ID = 4706244  # real API capture


def load_api_json(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def _as_api_data(value: Any) -> Any:
    """Page-data objects as the API returns them: its own host in `url` fields (research README §3)."""
    if isinstance(value, str):
        return value.replace(PAGE_DATA_API, REAL_API)
    if isinstance(value, list):
        return [_as_api_data(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_api_data(v) for k, v in value.items()}
    return value


def _queries(html_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    page_props = next_data_of(load_text(html_name))["props"]["pageProps"]
    return page_props, page_props["dehydratedState"]["queries"]


def _page_tracks(html_name: str, key_prefix: str) -> list[dict[str, Any]]:
    """The track objects of a built page's tracks query (chosen by queryKey prefix)."""
    _, queries = _queries(html_name)
    for query in queries:
        key = query["queryKey"][0]
        if isinstance(key, str) and key.startswith(key_prefix):
            tracks: list[dict[str, Any]] = query["state"]["data"]["results"]
            return tracks
    raise AssertionError(f"{html_name} has no query starting {key_prefix!r}")


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token (alg none) carrying `claims`: what a pasted browser token looks like."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class FakeBeatportApi:
    """api.beatport.com/v4 on 127.0.0.1, with one account (`username`/`password`)."""

    def __init__(
        self,
        *,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        access_ttl: float = 36000.0,
    ) -> None:
        self.server = FakeHTTPServer(fallback=self.handle)
        self.username = username
        self.password = password
        self.access_ttl = access_ttl  # seconds a newly issued access token lives (and its expires_in)
        self.token_delay = 0.0  # seconds the token endpoint takes (to make concurrent refreshers overlap)
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._access: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self._refresh: dict[str, str] = {}  # live refresh tokens -> username
        self.issued: list[str] = []  # every secret handed out: tokens, codes, session ids
        self.login_attempts = 0
        self.logins = 0
        self.code_exchanges = 0
        self.refresh_attempts = 0
        self.refreshes = 0
        self.unauthorized = 0  # catalog requests answered 401
        self._lists: dict[str, list[dict[str, Any]]] = {}
        self._objects: dict[str, Any] = {}
        self._load_catalog()

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        """What BEATPORT_API_URL should be set to."""
        return f"{self.server.url}/v4/"

    def start(self) -> FakeBeatportApi:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeBeatportApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[FakeRequest]:
        return self.server.requests

    def catalog_requests(self) -> list[FakeRequest]:
        return [r for r in self.server.requests if r.path.startswith("/v4/catalog/")]

    # -- programming ---------------------------------------------------------------------------------------
    def serve_list(self, path: str, tracks: Iterable[dict[str, Any]]) -> None:
        """A paginated list at `path` (relative to /v4/, e.g. "catalog/tracks/?label_id=1")."""
        with self._lock:
            self._lists[path] = _as_api_data([copy.deepcopy(t) for t in tracks])

    def serve_object(self, path: str, obj: Any) -> None:
        with self._lock:
            self._objects[path] = obj

    def fail(self, path: str, *responses: FakeResponse) -> None:
        """GET `path` (relative to /v4/, no query) answers `responses` in order, then normally again."""
        self.server.add("GET", "/v4/" + path.lstrip("/"), *responses, self.handle)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (the client's recorded expiry is not touched)."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0

    def issue_token(self, *, ttl: float | None = None, jwt: bool = False) -> dict[str, Any]:
        """A token pair as a browser would get it (for BEATPORT_API_TOKEN tests); not counted as a login."""
        with self._lock:
            return self._issue(self.username, ttl=ttl, jwt=jwt)

    def live_refresh_tokens(self) -> int:
        with self._lock:
            return len(self._refresh)

    # -- the default catalog -------------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        self.serve_list(f"catalog/genres/{GENRE_ID}/top/100/", genre_top100_tracks())
        self.serve_list("catalog/top/100/", _page_tracks(TOP100_HTML, "top-100-tracks"))
        chart_props, _ = _queries(CHART_HTML)
        self.serve_object(f"catalog/charts/{CHART_ID}/", _as_api_data(chart_props["chart"]))
        self.serve_list(
            f"catalog/charts/{CHART_ID}/tracks/", _page_tracks(CHART_HTML, f"chart-tracks-{CHART_ID}")
        )
        self.serve_list(
            f"catalog/releases/{RELEASE_ID}/tracks/",
            _page_tracks(RELEASE_HTML, f"release-{RELEASE_ID}-tracks"),
        )
        track_props, _ = _queries(TRACK_HTML)
        self.serve_object(f"catalog/tracks/{TRACK_ID}/", _as_api_data(track_props["track"]))
        label_tracks = [
            t for page in LABEL_TRACKS_HTML for t in _page_tracks(page, f"label-{LABEL_ID}-tracks")
        ]
        self.serve_list(f"catalog/tracks/?label_id={LABEL_ID}", label_tracks)
        self.serve_list(
            f"catalog/artists/{ARTIST_ID}/tracks/",
            _page_tracks(ARTIST_TRACKS_HTML, f"artist-{ARTIST_ID}-tracks"),
        )
        # Real API captures.
        self.serve_object(f"catalog/tracks/{REAL_TRACK_ID}/", load_api_json(TRACK_DETAIL_JSON))
        self.serve_list(
            f"catalog/releases/{REAL_RELEASE_ID}/tracks/", load_api_json(RELEASE_TRACKS_JSON)["results"]
        )

    # -- serving -------------------------------------------------------------------------------------------
    def handle(self, request: FakeRequest) -> FakeResponse:
        path = request.path
        if not path.startswith("/v4/"):
            return FakeResponse.json({"detail": "Not found."}, 404)
        route = path[len("/v4/") :]
        if route == "auth/login/" and request.method == "POST":
            return self._login(request)
        if route == "auth/o/authorize/" and request.method == "GET":
            return self._authorize(request)
        if route == "auth/o/token/" and request.method == "POST":
            return self._token(request)
        if route.startswith("catalog/") and request.method == "GET":
            return self._catalog(request, route)
        return FakeResponse.json({"detail": "Not found."}, 404)

    def _issue(self, username: str, *, ttl: float | None = None, jwt: bool = False) -> dict[str, Any]:
        lifetime = self.access_ttl if ttl is None else ttl
        expires_at = time.time() + lifetime
        if jwt:
            access = unsigned_jwt(
                {"exp": int(expires_at), "client_id": DOCS_CLIENT_ID, "jti": secrets.token_hex(8)}
            )
        else:
            access = "fakeacc_" + secrets.token_urlsafe(24)
        refresh = "fakeref_" + secrets.token_urlsafe(24)
        self._access[access] = expires_at
        self._refresh[refresh] = username
        self.issued += [access, refresh]
        return {
            "access_token": access,
            "expires_in": int(lifetime),
            "token_type": "Bearer",
            "scope": "app:docs user:dj",
            "refresh_token": refresh,
        }

    def _api_referer(self, request: FakeRequest, endpoint: str) -> bool:
        return request.headers.get("referer", "").startswith(f"{self.api_url}{endpoint}")

    def _login(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.login_attempts += 1
        if not self._api_referer(request, "auth/login/"):
            return FakeResponse.json({"detail": "CSRF Failed: Referer checking failed - no Referer."}, 403)
        try:
            body = request.json()
        except ValueError:
            return FakeResponse.json({"detail": "JSON parse error"}, 400)
        if not isinstance(body, dict) or (body.get("username"), body.get("password")) != (
            self.username,
            self.password,
        ):
            # What Beatport does with a bad login: 200 and an error body (the body text is a guess).
            return FakeResponse.json({"non_field_errors": ["Unable to log in with provided credentials."]})
        session = "fakesess_" + secrets.token_urlsafe(16)
        with self._lock:
            self.logins += 1
            self._sessions[session] = self.username
            self.issued.append(session)
        return FakeResponse.json(
            {"username": self.username, "email": f"{self.username}@example.com"},
            headers={"Set-Cookie": f"sessionid={session}; Path=/; HttpOnly; SameSite=Lax"},
        )

    def _authorize(self, request: FakeRequest) -> FakeResponse:
        query = {k: v[0] for k, v in request.query.items()}
        redirect_uri = f"{self.api_url}auth/o/post-message/"
        if (
            query.get("response_type") != "code"
            or query.get("client_id") != DOCS_CLIENT_ID
            or query.get("redirect_uri") != redirect_uri
        ):
            return FakeResponse.html(
                "<h2>Error</h2><p>invalid_request: Invalid client_id or redirect_uri.</p>", 400
            )
        cookies = dict(
            part.strip().split("=", 1) for part in request.headers.get("cookie", "").split(";") if "=" in part
        )
        with self._lock:
            username = self._sessions.get(cookies.get("sessionid", ""))
            if username is None:
                return FakeResponse(302, headers={"Location": "/v4/auth/login/?next=/v4/auth/o/authorize/"})
            code = "fakecode_" + secrets.token_urlsafe(16)
            self._codes[code] = username
            self.issued.append(code)
        return FakeResponse(302, headers={"Location": f"{redirect_uri}?code={code}"})

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        form = {**{k: v[0] for k, v in request.query.items()}, **form}  # beets sends query params
        grant = form.get("grant_type")
        delay = self.token_delay
        if grant == "authorization_code":
            if not self._api_referer(request, "auth/o/authorize/"):
                return FakeResponse.json({"detail": "CSRF Failed: Referer checking failed."}, 401)
            with self._lock:
                username = self._codes.pop(form.get("code", ""), None)  # single-use
                if (
                    username is None
                    or form.get("client_id") != DOCS_CLIENT_ID
                    or form.get("redirect_uri") != f"{self.api_url}auth/o/post-message/"
                ):
                    return FakeResponse.json({"error": "invalid_grant"}, 400)
                self.code_exchanges += 1
                return FakeResponse.json(self._issue(username), delay=delay)
        if grant == "refresh_token":
            with self._lock:
                self.refresh_attempts += 1
                if form.get("client_id") != DOCS_CLIENT_ID:
                    return FakeResponse.json({"error": "invalid_client"}, 401, delay=delay)
                username = self._refresh.pop(form.get("refresh_token", ""), None)  # single-use: revoked now
                if username is None:
                    return FakeResponse.json({"error": "invalid_grant"}, 400, delay=delay)
                self.refreshes += 1
                return FakeResponse.json(self._issue(username), delay=delay)
        if grant == "password":
            return FakeResponse.json({"error": "unauthorized_client"}, 400)
        return FakeResponse.json({"error": "unsupported_grant_type"}, 400)

    def _authorized(self, request: FakeRequest) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return False
        with self._lock:
            expires_at = self._access.get(header[len("Bearer ") :])
        return expires_at is not None and expires_at > time.time()

    def _catalog(self, request: FakeRequest, route: str) -> FakeResponse:
        if not self._authorized(request):
            with self._lock:
                self.unauthorized += 1
            return FakeResponse.json(NOT_AUTHENTICATED, 401)
        filters = sorted(
            (k, v[0]) for k, v in request.query.items() if k not in ("page", "per_page", "order_by")
        )
        key = route + (f"?{urlencode(filters)}" if filters else "")
        with self._lock:
            tracks = self._lists.get(key)
            obj = self._objects.get(key)
        if obj is not None:
            return FakeResponse.json(obj)
        if tracks is None and route == "catalog/tracks/" and filters:
            tracks = []  # a filter that matches nothing: an empty page, like the real API
        if tracks is None:
            return FakeResponse.json({"detail": "Not found."}, 404)
        try:
            page = int(request.query.get("page", ["1"])[0])
            per_page = min(int(request.query.get("per_page", [str(DEFAULT_PER_PAGE)])[0]), MAX_PER_PAGE)
        except ValueError:
            return FakeResponse.json({"detail": "Invalid page."}, 400)
        if page < 1 or per_page < 1:
            return FakeResponse.json({"detail": "Invalid page."}, 404)
        count = len(tracks)
        last = max(1, -(-count // per_page))
        if page > last:
            return FakeResponse.json({"detail": "Invalid page."}, 404)

        def link(number: int) -> str:
            # Scheme-less and on the real host, as in the real captures: clients must not follow it.
            params = urlencode([*filters, ("page", number), ("per_page", per_page)])
            return f"api.beatport.com/v4/{route}?{params}"

        return FakeResponse.json(
            {
                "next": link(page + 1) if page < last else None,
                "previous": link(page - 1) if page > 1 else None,
                "count": count,
                "page": f"{page}/{last}",
                "per_page": per_page,
                "results": tracks[(page - 1) * per_page : page * per_page],
            }
        )
