"""One loopback Spotify for everything Cratedigger asks of it: the client-credentials fake of tests/fakes/spotify.py
(search, tracks, artists; enrichment and match review) plus a user's side (spotify_accounts.py: PKCE
authorization and refresh; spotify_playlists.py: the user's playlists).

Point Settings at it with `spotify_api_url=fake.api_url`, `spotify_auth_url=fake.auth_url` and
`spotify_accounts_url=fake.url`; register the callback with `redirect_uris`.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.server import FakeRequest, FakeResponse
from tests.fakes.spotify import FakeSpotify, make_track_item
from tests.fakes.spotify_accounts import FakeAccounts
from tests.fakes.spotify_playlists import FakePlaylists

USER_ROUTES = ("me", "playlists", "users")


class FakeSpotifyAccount(FakeSpotify):
    def __init__(
        self,
        *,
        client_id: str = "id",
        client_secret: str = "secret",
        redirect_uris: set[str] | None = None,
        user_id: str = "testdj",
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret)
        self.accounts = FakeAccounts(client_id=client_id, redirect_uris=redirect_uris, user_id=user_id)
        self.playlists = FakePlaylists(self.accounts, base_url=lambda: self.url, track_item=self._track_item)

    def __enter__(self) -> FakeSpotifyAccount:
        self.start()
        return self

    def _track_item(self, track_id: str) -> dict[str, Any]:
        with self._lock:
            known = self._tracks.get(track_id)
        if known is not None:
            return known
        return make_track_item(name=f"Unknown {track_id}", artists=["Somebody"], isrc=None, track_id=track_id)

    def _handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path == "/authorize":
            return self.accounts.authorize(request)
        if request.method == "POST" and request.path == "/api/token":
            answered = self.accounts.token(request)
            if answered is not None:
                return answered
        parts = request.path.removeprefix("/v1/").strip("/").split("/")
        if request.path.startswith("/v1/") and parts[0] in USER_ROUTES:
            return self.playlists.handle(request, parts)
        return super()._handle(request)
