"""The user's authorization (PKCE, S256): spotipy's `SpotifyPKCE` makes the verifier, the challenge and the
authorize URL; the two token requests (code exchange, refresh) are sent here, so that a failure keeps its HTTP
status and OAuth error (spotipy folds them into one exception) and nothing secret reaches a log (spotipy logs
the request body, refresh token included, at DEBUG level).

Synchronous, like spotipy: callers run these in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyPKCE

from app.sources.spotify.spotipy_setup import TokenEndpointError, token_response

# What a playlist mirror needs: write private and public playlists, read the items of the user's own.
PLAYLIST_SCOPES = ("playlist-modify-private", "playlist-modify-public", "playlist-read-private")
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None  # None: Spotify kept the refresh token it had (no rotation)


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str  # where the user's browser goes: Spotify's authorize page
    code_verifier: str  # kept by us until the callback; only its S256 challenge is in the URL


class UserAuthorization(SpotifyPKCE):  # type: ignore[misc]  # spotipy is untyped
    def __init__(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        accounts_url: str,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=list(PLAYLIST_SCOPES),
            cache_handler=MemoryCacheHandler(),  # never a ./.cache file
            open_browser=False,
            requests_session=session if session is not None else requests.Session(),
            requests_timeout=timeout,
        )
        base = accounts_url.rstrip("/")
        # Instance attributes shadow the class defaults: other spotipy users in the process are unaffected.
        self.OAUTH_AUTHORIZE_URL = f"{base}/authorize"
        self.OAUTH_TOKEN_URL = f"{base}/api/token"

    def authorization_request(self, state: str) -> AuthorizationRequest:
        """A fresh verifier and the authorize URL carrying its S256 challenge, the scopes and `state`."""
        self.get_pkce_handshake_parameters()
        return AuthorizationRequest(url=self.get_authorize_url(state=state), code_verifier=self.code_verifier)

    def exchange_code(self, code: str, code_verifier: str) -> TokenGrant:
        grant = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": self.client_id,
                "code_verifier": code_verifier,
            }
        )
        if grant.refresh_token is None:
            raise TokenEndpointError(502, "no refresh token in the answer to the code exchange", None)
        return grant

    def refresh(self, refresh_token: str) -> TokenGrant:
        """A new access token; `refresh_token` in the grant only when Spotify rotated it (the old one is then
        revoked, so the caller must keep the new one)."""
        return self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        )

    def _token_request(self, form: dict[str, str]) -> TokenGrant:
        # PKCE: no Authorization header, the client id travels in the form.
        response = self._session.post(
            self.OAUTH_TOKEN_URL,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self.requests_timeout,
        )
        payload: dict[str, Any] = token_response(response)
        refresh = payload.get("refresh_token")
        return TokenGrant(
            access_token=str(payload["access_token"]),
            expires_in=int(payload["expires_in"]),
            scope=str(payload.get("scope") or ""),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        )
