"""A fake Spotify Web API (token endpoint + the /v1 routes Cratedigger uses) on the loopback FakeHTTPServer.

Responses are built from the recorded fixture shapes in tests/fixtures/spotify/. Point Settings at it with
`spotify_api_url=f"{fake.url}/v1/"` and `spotify_auth_url=f"{fake.url}/api/token"`.

* Tracks registered with `add_track` (items cloned from `search_track_isrc_one_hit.json`) are served by
  `GET /v1/tracks/{id}` and found by `GET /v1/search` (`isrc:…`, `track:"…" artist:"…"` or free words);
  `set_search(q, items)` overrides the answer for one exact query.
* `fail_api(*responses)` / `fail_token(*responses)` queue failures played before normal answers
  (`rate_limited()`, `quota_exceeded()`, `server_error()`, …); `latency` delays every API answer.
* `counts["search"|"track"|"artist"|"tracks_batch"|"artists_batch"|"token"|...]` count requests per route.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "spotify"
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UNSET: Any = object()


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def fake_id(seed: str) -> str:
    """A deterministic 22-character base62 ID (the real format) derived from `seed`."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(chars)


def _artist_ref(artist_id: str, name: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"https://api.spotify.com/v1/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


def make_track_item(
    *,
    name: str,
    artists: Sequence[str],
    isrc: str | None = "GBXYZ2500042",
    duration_ms: int = 372_413,
    track_id: str | None = None,
    artist_ids: Sequence[str] | None = None,
    album_name: str | None = None,
    album_id: str | None = None,
    album_type: str = "single",
    release_date: str = "2025-09-12",
    explicit: bool = False,
    popularity: int | None = None,
) -> dict[str, Any]:
    """A search-item TrackObject in the recorded shape, with IDs, ISRC and names replaced."""
    item: dict[str, Any] = copy.deepcopy(load_fixture("search_track_isrc_one_hit.json")["tracks"]["items"][0])
    track_id = track_id or fake_id(f"track:{name}:{isrc}:{album_type}:{release_date}")
    ids = list(artist_ids) if artist_ids is not None else [fake_id(f"artist:{a}") for a in artists]
    album_id = album_id or fake_id(f"album:{track_id}")
    refs = [_artist_ref(artist_id, artist) for artist_id, artist in zip(ids, artists, strict=True)]

    album = item["album"]
    album.update(
        {
            "album_type": album_type,
            "id": album_id,
            "name": album_name or name.split(" - ")[0],
            "release_date": release_date,
            "release_date_precision": {4: "year", 7: "month"}.get(len(release_date), "day"),
            "href": f"https://api.spotify.com/v1/albums/{album_id}",
            "uri": f"spotify:album:{album_id}",
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
            "artists": refs[:1],
        }
    )
    item.update(
        {
            "id": track_id,
            "name": name,
            "artists": refs,
            "duration_ms": duration_ms,
            "explicit": explicit,
            "external_ids": {"isrc": isrc} if isrc else {},
            "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
            "href": f"https://api.spotify.com/v1/tracks/{track_id}",
            "uri": f"spotify:track:{track_id}",
        }
    )
    if popularity is not None:  # Extended-Quota apps only
        item["popularity"] = popularity
    return item


def make_artist(artist_id: str, name: str, *, genres: list[str] | None = _UNSET) -> dict[str, Any]:
    """An ArtistObject from `artist_get.json`; `genres=None` leaves the key out (Dev-Mode shape)."""
    artist: dict[str, Any] = load_fixture("artist_get.json")
    artist.update(_artist_ref(artist_id, name))
    if genres is None:
        del artist["genres"]
    elif genres is not _UNSET:
        artist["genres"] = list(genres)
    return artist


# -- canned failures ---------------------------------------------------------------------------------
def rate_limited(retry_after: int | str = 1) -> FakeResponse:
    return FakeResponse.json(
        load_fixture("error_429_rate_limited.json"),
        429,
        headers={**JSON_HEADERS, "Retry-After": str(retry_after)},
    )


def quota_exceeded(retry_after: int | str | None = 3600) -> FakeResponse:
    headers = dict(JSON_HEADERS)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return FakeResponse.json(load_fixture("error_429_quota_exceeded.json"), 429, headers=headers)


def server_error(status: int = 500, *, delay: float = 0.0) -> FakeResponse:
    return FakeResponse.json(
        {"error": {"status": status, "message": "Server error"}}, status, headers=JSON_HEADERS, delay=delay
    )


def token_expired() -> FakeResponse:
    return FakeResponse.json(load_fixture("error_401_token_expired.json"), 401, headers=JSON_HEADERS)


def forbidden() -> FakeResponse:
    return FakeResponse.json(load_fixture("error_403_forbidden.json"), 403, headers=JSON_HEADERS)


def invalid_client() -> FakeResponse:
    return FakeResponse.json(load_fixture("token_error_invalid_client.json"), 400)


def not_found() -> FakeResponse:
    return FakeResponse.json(
        {"error": {"status": 404, "message": "Resource not found"}}, 404, headers=JSON_HEADERS
    )


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


_QUERY_TOKEN = re.compile(r'(?P<field>\w+):"(?P<quoted>[^"]*)"|(?P<field2>\w+):(?P<bare>\S+)|(?P<word>\S+)')


def _parse_query(q: str) -> tuple[dict[str, str], list[str]]:
    """`isrc:X track:"a b" artist:"c" free words` → ({isrc: X, track: "a b", artist: "c"}, [free, words])."""
    fields: dict[str, str] = {}
    words: list[str] = []
    for match in _QUERY_TOKEN.finditer(q):
        if match["field"]:
            fields[match["field"].lower()] = match["quoted"]
        elif match["field2"]:
            fields[match["field2"].lower()] = match["bare"]
        else:
            words.append(match["word"])
    return fields, words


class FakeSpotify:
    def __init__(
        self, *, client_id: str = "id", client_secret: str = "secret", token_lifetime: int = 3600
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.latency = 0.0  # seconds added to every /v1 answer
        self.server = FakeHTTPServer(fallback=self._handle)
        self.counts: Counter[str] = Counter()
        self.api_request_times: list[float] = []  # time.monotonic() at arrival of each /v1 request
        self._lock = threading.Lock()
        self._tracks: dict[str, dict[str, Any]] = {}
        self._artists: dict[str, dict[str, Any]] = {}
        self._searches: dict[str, list[dict[str, Any]]] = {}
        self._api_failures: deque[FakeResponse] = deque()
        self._token_failures: deque[FakeResponse] = deque()
        self._valid_tokens: set[str] = set()
        self._issued = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1/"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/api/token"

    def start(self) -> FakeSpotify:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget tracks, artists, programmed answers, tokens and counters (one server for many tests)."""
        with self._lock:
            self.latency = 0.0
            self.counts.clear()
            self.api_request_times.clear()
            self._tracks.clear()
            self._artists.clear()
            self._searches.clear()
            self._api_failures.clear()
            self._token_failures.clear()
            self._valid_tokens.clear()
        self.server.clear()

    # -- programming -------------------------------------------------------------------------------------
    def add_track(self, **kwargs: Any) -> dict[str, Any]:
        """Register a track (arguments of `make_track_item`); its artists are registered too if unknown."""
        item = make_track_item(**kwargs)
        with self._lock:
            self._tracks[item["id"]] = item
            for ref in item["artists"]:
                self._artists.setdefault(ref["id"], make_artist(ref["id"], ref["name"]))
        return item

    def add_artist(self, artist_id: str, name: str, *, genres: list[str] | None = _UNSET) -> dict[str, Any]:
        artist = make_artist(artist_id, name, genres=genres)
        with self._lock:
            self._artists[artist_id] = artist
        return artist

    def set_search(self, q: str, items: list[dict[str, Any]]) -> None:
        """Answer the exact query `q` with `items` instead of searching the registered tracks."""
        with self._lock:
            self._searches[q] = items

    def fail_api(self, *responses: FakeResponse) -> None:
        """Queue responses played, in order, for the next /v1 requests (any route)."""
        with self._lock:
            self._api_failures.extend(responses)

    def fail_token(self, *responses: FakeResponse) -> None:
        with self._lock:
            self._token_failures.extend(responses)

    def expire_tokens(self) -> None:
        """Invalidate every issued token: the next API call gets the recorded 401."""
        with self._lock:
            self._valid_tokens.clear()

    @property
    def api_requests(self) -> int:
        with self._lock:
            return sum(n for route, n in self.counts.items() if route != "token")

    # -- serving -----------------------------------------------------------------------------------------
    def _handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "POST" and request.path == "/api/token":
            return self._token(request)
        if request.path.startswith("/v1/"):
            response = self._api(request)
            if self.latency and not response.delay:
                response.delay = self.latency
            return response
        return FakeResponse.json({"error": {"status": 404, "message": "Service not found"}}, 404)

    def _token(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.counts["token"] += 1
            if self._token_failures:
                return self._token_failures.popleft()
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        grant = parse_qs(request.body.decode()).get("grant_type")
        if request.headers.get("authorization") != f"Basic {expected}":
            return invalid_client()
        if grant != ["client_credentials"]:
            return FakeResponse.json({"error": "unsupported_grant_type"}, 400)
        with self._lock:
            self._issued += 1
            token = f"BQDfakeAccessToken{self._issued:04d}"
            self._valid_tokens.add(token)
        body = load_fixture("token_client_credentials.json")
        body.update({"access_token": token, "expires_in": self.token_lifetime})
        return FakeResponse.json(body)

    def _api(self, request: FakeRequest) -> FakeResponse:
        parts = request.path.removeprefix("/v1/").strip("/").split("/")
        routes: dict[tuple[str, ...], str] = {
            ("search",): "search",
            ("tracks",): "tracks_batch",  # ?ids=a,b,c
            ("artists",): "artists_batch",
        }
        route = routes.get(tuple(parts), "unknown")
        if len(parts) == 2 and parts[0] in ("tracks", "artists"):
            route = parts[0].removesuffix("s")  # "track" / "artist"
        with self._lock:
            self.counts[route] += 1
            self.api_request_times.append(time.monotonic())
            if self._api_failures:
                return self._api_failures.popleft()
            authorized = (
                request.headers.get("authorization", "").removeprefix("Bearer ") in self._valid_tokens
            )
        if not authorized:
            return token_expired()
        if route == "search":
            return self._search(request)
        if route in ("tracks_batch", "artists_batch"):
            return forbidden()  # removed for Development-Mode apps (2026)
        if route in ("track", "artist"):
            with self._lock:
                found = (self._tracks if route == "track" else self._artists).get(parts[1])
            return FakeResponse.json(copy.deepcopy(found), headers=JSON_HEADERS) if found else not_found()
        return not_found()

    def _search(self, request: FakeRequest) -> FakeResponse:
        q = request.query.get("q", [""])[0]
        limit = int(request.query.get("limit", ["5"])[0])
        offset = int(request.query.get("offset", ["0"])[0])
        if limit > 10 or limit < 1:
            return FakeResponse.json(load_fixture("error_400_invalid_limit.json"), 400, headers=JSON_HEADERS)
        with self._lock:
            items = self._searches.get(q)
            if items is None:
                items = [t for t in self._tracks.values() if self._matches(t, q)]
            items = copy.deepcopy(items)
        envelope = load_fixture("search_track_zero_hits.json")
        page = envelope["tracks"]
        page.update(
            {
                "items": items[offset : offset + limit],
                "total": len(items),
                "limit": limit,
                "offset": offset,
                "href": f"https://api.spotify.com/v1/search?offset={offset}&limit={limit}&type=track",
            }
        )
        return FakeResponse.json(envelope, headers=JSON_HEADERS)

    @staticmethod
    def _matches(track: dict[str, Any], q: str) -> bool:
        fields, words = _parse_query(q)
        name = _norm(track["name"])
        artist_names = [_norm(a["name"]) for a in track["artists"]]
        if (
            "isrc" in fields
            and (track.get("external_ids") or {}).get("isrc", "").upper() != fields["isrc"].upper()
        ):
            return False
        if "track" in fields and _norm(fields["track"]) not in name:
            return False
        if "artist" in fields and not any(_norm(fields["artist"]) in a for a in artist_names):
            return False
        haystack = " ".join([name, *artist_names])
        return all(_norm(word) in haystack for word in words)
