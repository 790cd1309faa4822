"""Spotify's 2026 playlist API for the authorised user, as tests/fixtures/spotify/playlists.md describes it.

Routes: `GET /v1/me` and `/v1/me/` (spotipy adds the slash), `GET|POST /v1/me/playlists`, `GET|PUT
/v1/playlists/{id}`, `GET|POST|PUT|DELETE /v1/playlists/{id}/items` (GET pages of at most 50, writes of 1-100
URIs, DELETE's body key `items`, a new snapshot_id per write), `DELETE /v1/me/library?uris=spotify:playlist:…`;
the removed paths (`/users/…`, `/playlists/{id}/tracks`, `/followers`) answer 403.

`log` records every call (method, path, query, JSON body); `writes()` the write calls, so tests can assert the
fewest. Fault switches: `rate_limit(n, retry_after)`, `quota_exceeded(retry_after)`, `fail_5xx(n)`,
`not_allowlisted`, `delete_playlist(id)`, `drop_item_field`, `strict_delete`. The playlists themselves and the
item writes are in spotify_playlist_items.py.
"""

from __future__ import annotations

import base64
import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeRequest, FakeResponse
from tests.fakes.spotify_accounts import AuthorizedUser, FakeAccounts
from tests.fakes.spotify_playlist_items import (
    JSON_HEADERS,
    PAGE_MAX,
    WRITE_METHODS,
    FakePlaylist,
    LoggedCall,
    Refused,
    api_error,
    json_body,
    write_items,
)


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
        body = json_body(request)
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
        except Refused as refused:
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
            raise Refused(api_error(404, "Resource not found"))
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
        with self._lock:
            return write_items(
                request, playlist, body, strict_delete=self.strict_delete, snapshot=self._next_snapshot
            )

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

    # -- checks and shapes -------------------------------------------------------------------------------------------
    @staticmethod
    def _require_owner(playlist: FakePlaylist, user: AuthorizedUser) -> None:
        if playlist.owner != user.user_id and not playlist.collaborative:
            raise Refused(api_error(403, "Forbidden"))

    @staticmethod
    def _require_scope(user: AuthorizedUser, *, public: bool) -> None:
        needed = "playlist-modify-public" if public else "playlist-modify-private"
        if needed not in user.scope.split():
            raise Refused(api_error(403, "Insufficient client scope"))

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
