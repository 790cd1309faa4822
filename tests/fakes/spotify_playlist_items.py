"""The state of the fake playlist API (tests/fakes/spotify_playlists.py): what a playlist holds, what each call
sent, and the item writes with Spotify's checks (1-100 URIs of the right shape, DELETE's key `items`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import FakeRequest, FakeResponse

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


def ok_json(data: Any, status: int = 200) -> FakeResponse:
    return FakeResponse.json(data, status, headers=JSON_HEADERS)


def write_items(
    request: FakeRequest,
    playlist: FakePlaylist,
    body: Any,
    *,
    strict_delete: bool,
    snapshot: Callable[[], str],
) -> FakeResponse:
    """POST (add), PUT (replace or reorder) or DELETE (remove every occurrence) on `playlist`'s items."""
    if request.method == "POST":
        return _add(request, playlist, body, snapshot)
    if request.method == "PUT":
        return _replace_or_reorder(playlist, body, snapshot)
    return _remove(playlist, body, strict_delete, snapshot)


def _add(
    request: FakeRequest, playlist: FakePlaylist, body: Any, snapshot: Callable[[], str]
) -> FakeResponse:
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
    checked = checked_uris(uris, allow_empty=False)
    at = len(playlist.items) if position is None else max(0, min(int(position), len(playlist.items)))
    playlist.items[at:at] = [(uri, now()) for uri in checked]
    playlist.snapshot = snapshot()
    return ok_json({"snapshot_id": playlist.snapshot}, 201)


def _replace_or_reorder(playlist: FakePlaylist, body: Any, snapshot: Callable[[], str]) -> FakeResponse:
    if not isinstance(body, dict):
        return api_error(400, "Request body must be a JSON object")
    reorder = "range_start" in body or "insert_before" in body
    if reorder and "uris" in body:
        return api_error(400, "Give either uris or a reorder, not both")
    if reorder:
        start, length = int(body["range_start"]), int(body.get("range_length", 1))
        before = int(body["insert_before"])
        moved = playlist.items[start : start + length]
        rest = playlist.items[:start] + playlist.items[start + length :]
        at = before if before <= start else before - length
        playlist.items = rest[:at] + moved + rest[at:]
    else:
        uris = checked_uris(body.get("uris"), allow_empty=True)
        playlist.items = [(uri, now()) for uri in uris]
    playlist.snapshot = snapshot()
    return ok_json({"snapshot_id": playlist.snapshot})


def _remove(playlist: FakePlaylist, body: Any, strict: bool, snapshot: Callable[[], str]) -> FakeResponse:
    if not isinstance(body, dict) or ("items" not in body and strict):
        return api_error(400, "Missing required field: items")
    entries = body.get("items", body.get("tracks"))
    uris = checked_uris(
        [e.get("uri") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None,
        allow_empty=False,
    )
    gone = set(uris)
    playlist.items = [(uri, added) for uri, added in playlist.items if uri not in gone]
    playlist.snapshot = snapshot()
    return ok_json({"snapshot_id": playlist.snapshot})


def checked_uris(uris: Any, *, allow_empty: bool) -> list[str]:
    if not isinstance(uris, list) or len(uris) > WRITE_MAX or (not uris and not allow_empty):
        raise Refused(api_error(400, f"You can add a maximum of {WRITE_MAX} tracks per request."))
    for uri in uris:
        if not isinstance(uri, str) or not URI.fullmatch(uri):
            raise Refused(api_error(400, f"Invalid Spotify URI: {uri}"))
    return list(uris)


class Refused(Exception):
    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def json_body(request: FakeRequest) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
