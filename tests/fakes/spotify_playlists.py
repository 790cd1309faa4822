"""Spotify's 2026 playlist API for the authorised user, as tests/fixtures/spotify/playlists.md describes it.

Routes: `GET /v1/me` and `/v1/me/` (spotipy adds the slash), `GET|POST /v1/me/playlists`, `GET|PUT
/v1/playlists/{id}`, `GET|POST|PUT|DELETE /v1/playlists/{id}/items` (GET pages of at most 50, writes of 1-100
URIs, DELETE's body key `items`, a new snapshot_id per write), `DELETE /v1/me/library?uris=spotify:playlist:…`;
the removed paths (`/users/…`, `/playlists/{id}/tracks`, `/followers`) answer 403.

`log` records every call (method, path, query, JSON body); `writes()` the write calls, so tests can assert the
fewest. Fault switches: `rate_limit(n, retry_after)`, `quota_exceeded(retry_after)`, `fail_5xx(n)`,
`not_allowlisted`, `delete_playlist(id)`, `drop_item_field`, `strict_delete`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeRequest, FakeResponse
from tests.fakes.spotify_accounts import AuthorizedUser, FakeAccounts

URI = re.compile(r"spotify:(track|episode):[0-9A-Za-z]{22}")
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
PAGE_MAX = 50
WRITE_MAX = 100
WRITE_METHODS = ("POST", "PUT", "DELETE")


def api_error(status: int, message: str, *, reason: str | None = None, **headers: str) -> FakeResponse:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason is not None:
        error["reason"] = reason
    return FakeResponse.json({"error": error}, status, headers={**JSON_HEADERS, **headers})


@dataclass(frozen=True)
class LoggedCall:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any

    @property
    def uris(self) -> list[str]:
        """The URIs a write sent (query `uris`, body `uris`, a bare list, or DELETE's `items`)."""
        if "uris" in self.query:
            return self.query["uris"][0].split(",")
        if isinstance(self.body, list):
            return [str(uri) for uri in self.body]
        if isinstance(self.body, dict):
            if "uris" in self.body:
                return [str(uri) for uri in self.body["uris"]]
            return [str(item["uri"]) for item in self.body.get("items", [])]
        return []


@dataclass
class FakePlaylist:
    id: str
    owner: str
    name: str
    public: bool
    collaborative: bool
    description: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (uri, added_at)
    snapshot: str = ""

    @property
    def uris(self) -> list[str]:
        return [uri for uri, _ in self.items]


class FakePlaylists:
    def __init__(
        self,
        accounts: FakeAccounts,
        *,
        base_url: Callable[[], str],
        track_item: Callable[[str], dict[str, Any]],
        display_names: dict[str, str] | None = None,
    ) -> None:
        self.accounts = accounts
        self._base_url = base_url
        self._track_item = track_item  # a TrackObject for a track id
        self.display_names = display_names if display_names is not None else {"testdj": "Test DJ"}
        self.not_allowlisted = False
        self.drop_item_field = False  # serve `track` instead of `item` (pre-2026 Client IDs)
        self.strict_delete = True  # DELETE with the legacy key `tracks` → 400
        self.log: list[LoggedCall] = []
        self.playlists: dict[str, FakePlaylist] = {}
        self._faults: deque[tuple[str, FakeResponse]] = deque()  # ("write"|"any", response)
        self._snapshots = 0
        self._created = 0  # playlist ids are never reused, deleted ones included
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget playlists, the log, queued faults and switches (one fake for many tests)."""
        with self._lock:
            self.playlists.clear()
            self.log.clear()
            self._faults.clear()
        self.not_allowlisted = self.drop_item_field = False
        self.strict_delete = True

    # -- fault switches -------------------------------------------------------------------------------------------
    def rate_limit(self, times: int = 1, retry_after: int = 1, *, on: str = "write") -> None:
        for _ in range(times):
            self._faults.append(
                (on, api_error(429, "API rate limit exceeded", **{"Retry-After": str(retry_after)}))
            )

    def quota_exceeded(self, retry_after: int = 86207, *, on: str = "write") -> None:
        response = api_error(
            429, "Too many requests", reason="QUOTA_EXCEEDED", **{"Retry-After": str(retry_after)}
        )
        self._faults.append((on, response))

    def fail_5xx(self, times: int = 1, *, on: str = "any") -> None:
        for _ in range(times):
            self._faults.append((on, api_error(503, "Service unavailable")))

    def delete_playlist(self, playlist_id: str) -> None:
        with self._lock:
            self.playlists.pop(playlist_id, None)

    # -- what tests read ----------------------------------------------------------------------------------------------
    def writes(self) -> list[LoggedCall]:
        return [call for call in self.log if call.method in WRITE_METHODS]

    def uris_of(self, playlist_id: str) -> list[str]:
        with self._lock:
            return self.playlists[playlist_id].uris

    def owned_by(self, user_id: str) -> list[FakePlaylist]:
        with self._lock:
            return [p for p in self.playlists.values() if p.owner == user_id]

    # -- serving ------------------------------------------------------------------------------------------------------
    def handle(self, request: FakeRequest, parts: list[str]) -> FakeResponse:
        body = _json_body(request)
        with self._lock:
            self.log.append(LoggedCall(request.method, request.path, dict(request.query), body))
            fault = self._take_fault(request.method)
        if fault is not None:
            return fault
        if parts[0] == "users" or (parts[0] == "playlists" and parts[2:3] in (["tracks"], ["followers"])):
            return api_error(403, "Forbidden")  # removed for Development-Mode apps
        user = self.accounts.user_for(request.headers.get("authorization", "").removeprefix("Bearer "))
        if user is None:
            return api_error(401, "The access token expired")
        if self.not_allowlisted:
            return api_error(403, "User not registered in the Developer Dashboard")
        try:
            return self._route(request, parts, user, body)
        except _Refused as refused:
            return refused.response

    def _take_fault(self, method: str) -> FakeResponse | None:
        if self._faults and (self._faults[0][0] == "any" or method in WRITE_METHODS):
            return self._faults.popleft()[1]
        return None

    def _route(self, request: FakeRequest, parts: list[str], user: AuthorizedUser, body: Any) -> FakeResponse:
        method = request.method
        if parts == ["me"] and method == "GET":
            return self._json(self._user(user.user_id))
        if parts == ["me", "playlists"]:
            return self._create(user, body) if method == "POST" else self._my_playlists(request, user)
        if parts == ["me", "library"] and method == "DELETE":
            return self._unfollow(request, user)
        if parts[0] != "playlists" or len(parts) not in (2, 3):
            return api_error(404, "Service not found")
        playlist = self._playlist(parts[1])
        if len(parts) == 2:
            return self._details(request, playlist, user, body)
        if parts[2] != "items":
            return api_error(404, "Service not found")
        return self._items(request, playlist, user, body)

    # -- users and playlists ------------------------------------------------------------------------------------------
    def _user(self, user_id: str) -> dict[str, Any]:
        return {
            "display_name": self.display_names.get(user_id, user_id),
            "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"},
            "href": f"https://api.spotify.com/v1/users/{user_id}",
            "id": user_id,
            "images": [],
            "type": "user",
            "uri": f"spotify:user:{user_id}",
            "account_id": base64.b16encode(user_id.encode()).decode().lower()[:24],
        }

    def _create(self, user: AuthorizedUser, body: Any) -> FakeResponse:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return api_error(400, "Missing required field: name")
        public = bool(body.get("public", True))
        collaborative = bool(body.get("collaborative", False))
        if collaborative and public:
            return api_error(400, "Collaborative playlists can only be private.")
        self._require_scope(user, public=public)
        with self._lock:
            self._created += 1
            playlist = FakePlaylist(
                id=f"5Xfakeplaylist{self._created:09d}",
                owner=user.user_id,
                name=body["name"],
                public=public,
                collaborative=collaborative,
                description=str(body.get("description") or ""),
            )
            playlist.snapshot = self._next_snapshot()
            self.playlists[playlist.id] = playlist
        return self._json(self._playlist_object(playlist, with_items=True), 201)

    def _my_playlists(self, request: FakeRequest, user: AuthorizedUser) -> FakeResponse:
        owned = [self._playlist_object(p, with_items=False) for p in self.owned_by(user.user_id)]
        return self._json(self._page(request, owned, path="/v1/me/playlists", default_limit=20))

    def _unfollow(self, request: FakeRequest, user: AuthorizedUser) -> FakeResponse:
        for uri in request.query.get("uris", [""])[0].split(","):
            playlist_id = uri.removeprefix("spotify:playlist:")
            with self._lock:
                if playlist_id in self.playlists and self.playlists[playlist_id].owner == user.user_id:
                    del self.playlists[playlist_id]
        return FakeResponse(status=200)

    def _playlist(self, playlist_id: str) -> FakePlaylist:
        with self._lock:
            playlist = self.playlists.get(playlist_id)
        if playlist is None:
            raise _Refused(api_error(404, "Resource not found"))
        return playlist

    def _details(
        self, request: FakeRequest, playlist: FakePlaylist, user: AuthorizedUser, body: Any
    ) -> FakeResponse:
        if request.method == "PUT":
            self._require_owner(playlist, user)
            with self._lock:
                for name in ("name", "description", "public", "collaborative"):
                    if isinstance(body, dict) and name in body:
                        setattr(playlist, name, body[name])
            return FakeResponse(status=200)
        full = self._playlist_object(playlist, with_items=playlist.owner == user.user_id)
        fields = request.query.get("fields", [""])[0]
        if fields:
            full = {name: full[name] for name in fields.split(",") if name in full}
        return self._json(full)

    def _playlist_object(self, playlist: FakePlaylist, *, with_items: bool) -> dict[str, Any]:
        href = f"{self._base_url()}/v1/playlists/{playlist.id}"
        found: dict[str, Any] = {
            "collaborative": playlist.collaborative,
            "description": playlist.description,
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist.id}"},
            "href": href,
            "id": playlist.id,
            "images": [],
            "name": playlist.name,
            "owner": self._user(playlist.owner),
            "public": playlist.public,
            "snapshot_id": playlist.snapshot,
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }
        if with_items:
            found["items"] = {"href": f"{href}/items", "total": len(playlist.items)}
        return found

    # -- items ---------------------------------------------------------------------------------------------------------
    def _items(
        self, request: FakeRequest, playlist: FakePlaylist, user: AuthorizedUser, body: Any
    ) -> FakeResponse:
        if request.method == "GET":
            if "playlist-read-private" not in user.scope.split():
                return api_error(403, "Insufficient client scope")
            self._require_owner(playlist, user)
            return self._item_page(request, playlist)
        self._require_owner(playlist, user)
        self._require_scope(user, public=playlist.public)
        if request.method == "POST":
            return self._add(request, playlist, body)
        if request.method == "PUT":
            return self._replace_or_reorder(playlist, body)
        return self._remove(playlist, body)

    def _item_page(self, request: FakeRequest, playlist: FakePlaylist) -> FakeResponse:
        try:
            limit = int(request.query.get("limit", ["20"])[0])
        except ValueError:
            limit = 0
        if not 1 <= limit <= PAGE_MAX:
            return api_error(400, f"Invalid limit: must be between 1 and {PAGE_MAX}")
        with self._lock:
            items = list(playlist.items)
        page = self._page(request, items, path=f"/v1/playlists/{playlist.id}/items", default_limit=20)
        page["items"] = [self._entry(uri, added_at, playlist.owner) for uri, added_at in page["items"]]
        return self._json(page)

    def _entry(self, uri: str, added_at: str, owner: str) -> dict[str, Any]:
        track = copy.deepcopy(self._track_item(uri.rsplit(":", 1)[1]))
        entry: dict[str, Any] = {
            "added_at": added_at,
            "added_by": {"id": owner, "type": "user", "uri": f"spotify:user:{owner}"},
            "is_local": False,
        }
        entry["track" if self.drop_item_field else "item"] = track
        return entry

    def _add(self, request: FakeRequest, playlist: FakePlaylist, body: Any) -> FakeResponse:
        position: Any = None
        if "uris" in request.query:
            uris: Any = request.query["uris"][0].split(",")
        elif isinstance(body, list):
            uris = body
        elif isinstance(body, dict):
            uris, position = body.get("uris"), body.get("position")
        else:
            uris = None
        if "position" in request.query:
            position = int(request.query["position"][0])
        checked = self._checked_uris(uris, allow_empty=False)
        with self._lock:
            at = len(playlist.items) if position is None else max(0, min(int(position), len(playlist.items)))
            playlist.items[at:at] = [(uri, _now()) for uri in checked]
            playlist.snapshot = self._next_snapshot()
            return self._json({"snapshot_id": playlist.snapshot}, 201)

    def _replace_or_reorder(self, playlist: FakePlaylist, body: Any) -> FakeResponse:
        if not isinstance(body, dict):
            return api_error(400, "Request body must be a JSON object")
        reorder = "range_start" in body or "insert_before" in body
        if reorder and "uris" in body:
            return api_error(400, "Give either uris or a reorder, not both")
        with self._lock:
            if reorder:
                start, length = int(body["range_start"]), int(body.get("range_length", 1))
                before = int(body["insert_before"])
                moved = playlist.items[start : start + length]
                rest = playlist.items[:start] + playlist.items[start + length :]
                at = before if before <= start else before - length
                playlist.items = rest[:at] + moved + rest[at:]
            else:
                uris = self._checked_uris(body.get("uris"), allow_empty=True)
                playlist.items = [(uri, _now()) for uri in uris]
            playlist.snapshot = self._next_snapshot()
            return self._json({"snapshot_id": playlist.snapshot})

    def _remove(self, playlist: FakePlaylist, body: Any) -> FakeResponse:
        if not isinstance(body, dict) or ("items" not in body and self.strict_delete):
            return api_error(400, "Missing required field: items")
        entries = body.get("items", body.get("tracks"))
        uris = self._checked_uris(
            [e.get("uri") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None,
            allow_empty=False,
        )
        gone = set(uris)
        with self._lock:
            playlist.items = [(uri, added) for uri, added in playlist.items if uri not in gone]
            playlist.snapshot = self._next_snapshot()
            return self._json({"snapshot_id": playlist.snapshot})

    # -- checks and shapes -------------------------------------------------------------------------------------------
    @staticmethod
    def _checked_uris(uris: Any, *, allow_empty: bool) -> list[str]:
        if not isinstance(uris, list) or len(uris) > WRITE_MAX or (not uris and not allow_empty):
            raise _Refused(api_error(400, f"You can add a maximum of {WRITE_MAX} tracks per request."))
        for uri in uris:
            if not isinstance(uri, str) or not URI.fullmatch(uri):
                raise _Refused(api_error(400, f"Invalid Spotify URI: {uri}"))
        return list(uris)

    @staticmethod
    def _require_owner(playlist: FakePlaylist, user: AuthorizedUser) -> None:
        if playlist.owner != user.user_id and not playlist.collaborative:
            raise _Refused(api_error(403, "Forbidden"))

    @staticmethod
    def _require_scope(user: AuthorizedUser, *, public: bool) -> None:
        needed = "playlist-modify-public" if public else "playlist-modify-private"
        if needed not in user.scope.split():
            raise _Refused(api_error(403, "Insufficient client scope"))

    def _next_snapshot(self) -> str:
        self._snapshots += 1
        return base64.b64encode(self._snapshots.to_bytes(4, "big")).decode()

    def _page(
        self, request: FakeRequest, items: list[Any], *, path: str, default_limit: int
    ) -> dict[str, Any]:
        limit = max(1, min(PAGE_MAX, int(request.query.get("limit", [str(default_limit)])[0])))
        offset = max(0, int(request.query.get("offset", ["0"])[0]))
        base = f"{self._base_url()}{path}"

        def href(at: int) -> str:
            return f"{base}?offset={at}&limit={limit}"

        return {
            "href": href(offset),
            "items": items[offset : offset + limit],
            "limit": limit,
            "next": href(offset + limit) if offset + limit < len(items) else None,
            "offset": offset,
            "previous": href(max(0, offset - limit)) if offset > 0 else None,
            "total": len(items),
        }

    @staticmethod
    def _json(data: Any, status: int = 200) -> FakeResponse:
        return FakeResponse.json(data, status, headers=JSON_HEADERS)


class _Refused(Exception):
    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _json_body(request: FakeRequest) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
