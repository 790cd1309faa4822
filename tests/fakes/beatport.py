"""A loopback stand-in for www.beatport.com, built on FakeHTTPServer.

By default it serves the real 2026-07 tech-house Top 100 page at /genre/tech-house/11/top-100. Helpers
program the other page kinds at their canonical paths (the ones `Target.path()` builds), bot challenges,
rate limits and slow answers. Routes match the path exactly (no slug-insensitivity), like FakeHTTPServer.

    with FakeBeatport() as fake:
        settings.beatport_base_url = fake.url
        fake.serve_label_tracks(101510, pages=3)
        fake.challenge("/chart/_/900123", then=load_text(CHART_HTML))
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import threading
from collections.abc import Sequence
from typing import Any

from tests.fakes.server import FakeHTTPServer, FakeRequest, FakeResponse, Handler
from tests.fixtures.beatport import (
    ARTIST_TRACKS_HTML,
    BROKEN_JSON_HTML,
    CHALLENGE_HTML,
    CHANGED_HTML,
    CHART_HTML,
    GENRE_TOP100_PATH,
    LABEL_TRACKS_HTML,
    RELEASE_HTML,
    TOP100_HTML,
    TRACK_HTML,
    genre_top100_html,
    genre_top100_next_data,
    genre_top100_tracks,
    load_text,
    render_page,
    replace_next_data,
)
from tests.fixtures.beatport.build_fixtures import next_data_page

# Shifting every id by a multiple of this never collides with another multiple: each id family in the
# capture spans less (tracks 7.5M-29.6M, releases 1.7M-7.2M, artists 17-2.4M, labels 121-384K).
# Ids stay below 2**31 (a PostgreSQL INTEGER) for offsets up to 84 * ID_OFFSET_STEP.
ID_OFFSET_STEP = 25_000_000

TOP100_PATH = "/top-100"
CHART_PATH = "/chart/tech-house-heat/900123"
RELEASE_PATH = "/release/flex-cardio/7075608"
TRACK_PATH = "/track/stay-sexy/29386531"
ARTIST_TRACKS_PATH = "/artist/chris-lorenzo/298551/tracks"
LABEL_TRACKS_PATH = "/label/hellbent-records/101510/tracks"
DEFAULT_PER_PAGE = 150  # what the app asks label/artist track lists for

CHALLENGE_HEADERS = {"cf-mitigated": "challenge", "Server": "cloudflare", "cf-ray": "8f1e2d3c4b5a6978-FRA"}

_API = "https://api-internal.beatportprod.com/v4/catalog"


def _shift_ids(track: dict[str, Any], offset: int, *, labels: bool = True) -> None:
    """Shift the ids of a track object (and its artists, remixers, release, label) in place."""
    track["id"] += offset
    track["url"] = f"{_API}/tracks/{track['id']}/"
    for artist in [*(track.get("artists") or []), *(track.get("remixers") or [])]:
        artist["id"] += offset
        artist["url"] = f"{_API}/artists/{artist['id']}/"
    release = track.get("release")
    if isinstance(release, dict):
        release["id"] += offset
        label = release.get("label")
        if labels and isinstance(label, dict):
            label["id"] += offset


@functools.lru_cache(maxsize=8)
def top100_with_ids_offset(offset: int) -> str:
    """The real Top 100 page with every track, artist, release and label id shifted by `offset`.

    Everything else (names, ISRCs, the ~1 MB of markup) is unchanged, so a benchmark pass over it
    inserts new rows at the real page's parse cost. Use multiples of ID_OFFSET_STEP for non-overlapping ids.
    """
    if offset == 0:
        return genre_top100_html()
    data = genre_top100_next_data()
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        results = query["state"]["data"].get("results")
        for track in results or []:
            _shift_ids(track, offset)
    return replace_next_data(genre_top100_html(), data)


def _listing_tracks(
    total: int, *, owner: str, owner_obj: dict[str, Any], seed_offset: int = 0
) -> list[dict[str, Any]]:
    """`total` distinct track objects: the real 100, then copies with ids shifted by ID_OFFSET_STEP."""
    real = genre_top100_tracks()
    tracks = []
    for index in range(total):
        track = copy.deepcopy(real[index % len(real)])
        _shift_ids(track, seed_offset + (index // len(real)) * ID_OFFSET_STEP, labels=False)
        if owner == "label":
            track["release"]["label"] = copy.deepcopy(owner_obj)
        elif all(a["id"] != owner_obj["id"] for a in track["artists"]):
            track["artists"].insert(
                0, {**copy.deepcopy(owner_obj), "url": f"{_API}/artists/{owner_obj['id']}/"}
            )
        tracks.append(track)
    return tracks


class _Listing:
    """Label/artist track pages rendered on demand from ?page=N&per_page=M (or per-page=M)."""

    def __init__(self, owner: str, owner_obj: dict[str, Any], tracks: list[dict[str, Any]]) -> None:
        self.owner = owner
        self.owner_obj = owner_obj
        self.tracks = tracks
        self._cache: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def __call__(self, request: FakeRequest) -> FakeResponse:
        try:
            page = int((request.query.get("page") or ["1"])[0])
            per_page_raw = request.query.get("per_page") or request.query.get("per-page") or ["150"]
            per_page = int(per_page_raw[0])
        except ValueError:
            return FakeResponse.html("<html><body>Bad Request</body></html>", 400)
        if page < 1 or per_page < 1:
            return FakeResponse.html("<html><body>Bad Request</body></html>", 400)
        per_page = min(per_page, DEFAULT_PER_PAGE)  # the site's maximum
        with self._lock:
            html = self._cache.get((page, per_page))
            if html is None:
                html = self._cache[(page, per_page)] = render_page(self._next_data(page, per_page))
        return FakeResponse.html(html)

    def add_newest(self, tracks: list[dict[str, Any]]) -> None:
        """New releases: listed first, as the site lists a label's or artist's tracks newest first."""
        with self._lock:
            self.tracks[:0] = tracks
            self._cache.clear()

    def _next_data(self, page: int, per_page: int) -> dict[str, Any]:
        owner_id = self.owner_obj["id"]
        count = len(self.tracks)
        results = self.tracks[(page - 1) * per_page : page * per_page]  # past the end: an empty page
        api = f"api-internal.beatportprod.com/v4/catalog/{self.owner}s/{owner_id}/tracks/"
        envelope = {
            "next": f"{api}?page={page + 1}&per_page={per_page}" if page * per_page < count else None,
            "previous": f"{api}?page={page - 1}&per_page={per_page}" if page > 1 else None,
            "count": count,
            "page": str(page),
            "per_page": per_page,
            "results": results,
        }
        key = f"{self.owner}-{owner_id}-tracks-page={page}&per_page={per_page}"
        real = genre_top100_next_data()
        state = real["props"]["pageProps"]["dehydratedState"]["queries"][0]["state"]

        def query(query_key: str, data: Any) -> dict[str, Any]:
            return {
                "state": {**state, "data": data},
                "queryKey": [query_key],
                "queryHash": f'["{query_key}"]',
            }

        page_props = {
            self.owner: self.owner_obj,
            "dehydratedState": {
                "mutations": [],
                "queries": [query(f"{self.owner}-{owner_id}", self.owner_obj), query(key, envelope)],
            },
        }
        route_query = {
            "description": self.owner_obj.get("slug") or "_",
            "id": str(owner_id),
            "page": str(page),
        }
        return next_data_page(f"/{self.owner}/[description]/[id]/tracks", route_query, page_props)


class FakeBeatport:
    """www.beatport.com on 127.0.0.1. Serves the real tech-house Top 100 at GENRE_TOP100_PATH by default."""

    GENRE_TOP100_PATH = GENRE_TOP100_PATH

    def __init__(self) -> None:
        self.server = FakeHTTPServer()
        self._pages: dict[str, str] = {}
        self._paged: dict[str, Handler] = {}  # paginated routes, for interrupt_page
        self._additions = 0  # add_listing_tracks calls, for fresh ids
        self._lock = threading.Lock()
        self.serve_genre_top100()

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL to use instead of https://www.beatport.com."""
        return self.server.url

    def start(self) -> FakeBeatport:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeBeatport:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all routes and recorded requests; serve the default Top 100 again."""
        self.server.clear()
        with self._lock:
            self._pages.clear()
            self._paged.clear()
        self.serve_genre_top100()

    @property
    def requests(self) -> list[FakeRequest]:
        return self.server.requests

    def requests_to(self, path: str) -> list[FakeRequest]:
        return self.server.requests_to(path)

    # -- pages -----------------------------------------------------------------------------------------------
    def serve(self, path: str, *responses: FakeResponse | Handler) -> None:
        """Raw access: program `GET path` with responses played in order (the last one repeats)."""
        self.server.add("GET", _route(path), *responses)

    def serve_page(self, path: str, html: str | bytes, *, status: int = 200) -> None:
        """Serve an HTML page at `path` (remembered as the page later helpers fall back to)."""
        text = html.decode() if isinstance(html, bytes) else html
        with self._lock:
            self._pages[_route(path)] = text
        self.serve(path, FakeResponse.html(text, status))

    def serve_genre_top100(self, html: str | None = None, *, path: str = GENRE_TOP100_PATH) -> None:
        """The real tech-house Top 100 page, or `html` (e.g. top100_with_ids_offset(...))."""
        self.serve_page(path, html if html is not None else genre_top100_html())

    def serve_top100(self, html: str | None = None) -> None:
        self.serve_page(TOP100_PATH, html if html is not None else load_text(TOP100_HTML))

    def serve_chart(self, html: str | None = None, *, path: str = CHART_PATH) -> None:
        self.serve_page(path, html if html is not None else load_text(CHART_HTML))

    def serve_release(self, html: str | None = None, *, path: str = RELEASE_PATH) -> None:
        self.serve_page(path, html if html is not None else load_text(RELEASE_HTML))

    def serve_track(self, html: str | None = None, *, path: str = TRACK_PATH) -> None:
        self.serve_page(path, html if html is not None else load_text(TRACK_HTML))

    def serve_artist_tracks_fixture(self, *, path: str = ARTIST_TRACKS_PATH) -> None:
        """The built one-page artist tracks fixture (3 real tracks of Chris Lorenzo)."""
        self.serve_page(path, load_text(ARTIST_TRACKS_HTML))

    def serve_recorded_kinds(self) -> None:
        """The recorded Top 100, chart, release and track pages and the built artist-tracks page."""
        self.serve_top100()
        self.serve_chart()
        self.serve_release()
        self.serve_track()
        self.serve_artist_tracks_fixture()

    def serve_label_tracks_fixture(self, *, path: str = LABEL_TRACKS_PATH) -> None:
        """The built 3-page label fixture (6 real Hellbent Records tracks, per_page=2) by ?page=N."""
        self.serve_paginated(path, [load_text(name) for name in LABEL_TRACKS_HTML])

    def serve_paginated(self, path: str, pages: Sequence[str]) -> None:
        """Serve pages[N-1] for `path?page=N` (past the last page: 404)."""
        page_list = list(pages)

        def handler(request: FakeRequest) -> FakeResponse:
            raw = (request.query.get("page") or ["1"])[0]
            index = int(raw) - 1 if raw.isdigit() else -1
            if 0 <= index < len(page_list):
                return FakeResponse.html(page_list[index])
            return FakeResponse.html("<html><body>Page not found</body></html>", 404)

        self._serve_paged(path, handler)

    def serve_label_tracks(
        self,
        label_id: int,
        pages: int = 3,
        *,
        slug: str = "_",
        name: str = "Fake Label",
        per_page: int = DEFAULT_PER_PAGE,
    ) -> tuple[int, ...]:
        """Serve /label/<slug>/<label_id>/tracks with `pages` pages at `per_page` (last page partial).

        Answers any ?page=N&per_page=M (M capped at 150) from the same track list, so a client's own page
        size also works. Returns all track ids in list order.
        """
        label = {"id": label_id, "name": name, "slug": None if slug == "_" else slug}
        return self._serve_listing("label", label, pages, per_page, f"/label/{slug}/{label_id}/tracks")

    def serve_artist_tracks(
        self,
        artist_id: int,
        pages: int = 2,
        *,
        slug: str = "_",
        name: str = "Fake Artist",
        per_page: int = DEFAULT_PER_PAGE,
    ) -> tuple[int, ...]:
        """Like serve_label_tracks, for /artist/<slug>/<artist_id>/tracks."""
        artist = {"id": artist_id, "name": name, "slug": None if slug == "_" else slug}
        return self._serve_listing("artist", artist, pages, per_page, f"/artist/{slug}/{artist_id}/tracks")

    def _serve_listing(
        self, owner: str, owner_obj: dict[str, Any], pages: int, per_page: int, path: str
    ) -> tuple[int, ...]:
        if pages < 1 or per_page < 1:
            raise ValueError("pages and per_page must be >= 1")
        # Last page about a third full, so "stop when page*per_page >= count" is exercised.
        total = per_page * (pages - 1) + max(1, per_page // 3)
        tracks = _listing_tracks(total, owner=owner, owner_obj=owner_obj)
        self._serve_paged(path, _Listing(owner, owner_obj, tracks))
        return tuple(t["id"] for t in tracks)

    def add_listing_tracks(self, path: str, count: int) -> tuple[int, ...]:
        """Release `count` new tracks on a label/artist listing served by serve_label_tracks or
        serve_artist_tracks (with ids no other helper uses); returns their ids, newest first."""
        with self._lock:
            listing = self._paged[_route(path)]
            self._additions += 1
            seed_offset = (40 + self._additions) * ID_OFFSET_STEP  # past any listing's own offsets
        if not isinstance(listing, _Listing):
            raise ValueError(f"{path} is not a listing served by serve_label_tracks/serve_artist_tracks")
        added = _listing_tracks(
            count, owner=listing.owner, owner_obj=listing.owner_obj, seed_offset=seed_offset
        )
        listing.add_newest(added)
        return tuple(track["id"] for track in added)

    def _serve_paged(self, path: str, handler: Handler) -> None:
        with self._lock:
            self._paged[_route(path)] = handler
        self.serve(path, handler)

    def pages_requested(self, path: str) -> list[int]:
        """The `?page=N` of every request to a paginated `path`, in order (a request without one: page 1)."""
        return [int((r.query.get("page") or ["1"])[0]) for r in self.requests_to(path)]

    # -- failures ----------------------------------------------------------------------------------------
    def interrupt_page(
        self, path: str, page: int, *, status: int | None = None, hold: threading.Event | None = None
    ) -> None:
        """The first request for page `page` of a paginated `path` (served by serve_label_tracks and the
        like) is answered with HTTP `status`, or held until `hold` is set and then answered as usual; every
        other request, that page's later ones included, as before."""
        if (status is None) == (hold is None):
            raise ValueError("give either status or hold")
        with self._lock:
            normal = self._paged[_route(path)]
        interrupted = threading.Event()  # set by the first request for the page

        def handler(request: FakeRequest) -> FakeResponse:
            with self._lock:
                first = request.query.get("page") == [str(page)] and not interrupted.is_set()
                if first:
                    interrupted.set()
            if not first:
                return normal(request)
            if status is not None:
                return FakeResponse.html(f"<html><body>HTTP {status}</body></html>", status)
            return dataclasses.replace(normal(request), hold=hold)

        self.serve(path, handler)

    def challenge(
        self, path: str, *, status: int = 403, then: FakeResponse | str | None = None, times: int = 1
    ) -> None:
        """A Cloudflare-style bot challenge (403, `cf-mitigated: challenge`, challenge HTML without
        __NEXT_DATA__); with `then`, `times` challenges and then that response."""
        blocked = FakeResponse.html(load_text(CHALLENGE_HTML), status, headers=dict(CHALLENGE_HEADERS))
        self._fail_then(path, blocked, then, times)

    def rate_limited(
        self, path: str, retry_after: float = 2, *, then: FakeResponse | str | None = None, times: int = 1
    ) -> None:
        """`times` 429 answers with Retry-After, then `then` (default: the page served at `path` before,
        if any; otherwise the 429 repeats)."""
        limited = FakeResponse.html(
            "<html><body>Too Many Requests</body></html>",
            429,
            headers={"Retry-After": f"{retry_after:g}"},
        )
        if then is None:
            with self._lock:
                then = self._pages.get(_route(path))
        self._fail_then(path, limited, then, times)

    def slow(self, path: str, delay: float, html: str | None = None) -> None:
        """Answer `path` after `delay` seconds with `html` (default: the page served there before)."""
        if html is None:
            with self._lock:
                html = self._pages.get(_route(path))
        if html is None:
            raise ValueError(f"nothing served at {path} yet: pass html")
        self.serve(path, FakeResponse.html(html, delay=delay))

    def serve_changed_page(self, path: str) -> None:
        """A normal-looking 200 page without __NEXT_DATA__ (the site changed)."""
        self.serve(path, FakeResponse.html(load_text(CHANGED_HTML)))

    def serve_broken_json(self, path: str) -> None:
        """A page whose __NEXT_DATA__ JSON is cut off."""
        self.serve(path, FakeResponse.html(load_text(BROKEN_JSON_HTML)))

    def _fail_then(
        self, path: str, failure: FakeResponse, then: FakeResponse | str | None, times: int
    ) -> None:
        if then is None:
            self.serve(path, failure)
            return
        after = FakeResponse.html(then) if isinstance(then, str) else then
        self.serve(path, *([failure] * max(1, times)), after)

    top100_with_ids_offset = staticmethod(top100_with_ids_offset)


def _route(path: str) -> str:
    if "?" in path:
        raise ValueError(
            f"FakeBeatport routes match the path only ({path!r}); use serve_paginated/serve_label_tracks "
            "for pages that differ by query string"
        )
    return path
