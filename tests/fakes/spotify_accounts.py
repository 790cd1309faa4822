"""Spotify's accounts service for user authorization (PKCE), as tests/fixtures/spotify/playlists.md describes it:
`GET /authorize` (auto-approves, or denies) and the `authorization_code` and `refresh_token` grants of
`POST /api/token`. `FakeSpotifyAccount` (spotify_user.py) serves it beside the client-credentials fake.

Checked like Spotify checks them: a registered redirect URI (exact match, never `localhost`, `http` only on
loopback), S256 challenges, one-time codes that expire, `base64url(sha256(verifier))` against the challenge,
the client id. Refresh tokens expire six months after consent; by default a refresh answers without a new
refresh token (2026 behaviour), `rotate_refresh = True` returns one and revokes the old.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.server import FakeRequest, FakeResponse

CODE_SECONDS = 600
CONSENT_SECONDS = 183 * 24 * 3600  # about six months
ALL_SCOPES = "playlist-modify-private playlist-modify-public playlist-read-private"


def oauth_error(error: str, description: str, status: int = 400) -> FakeResponse:
    return FakeResponse.json({"error": error, "error_description": description}, status)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class _Code:
    user_id: str
    challenge: str
    redirect_uri: str
    scope: str
    issued_at: float
    used: bool = False


@dataclass
class _Consent:
    user_id: str
    scope: str
    consented_at: float
    revoked: bool = False


@dataclass
class _Access:
    user_id: str
    scope: str
    expires_at: float


@dataclass(frozen=True)
class AuthorizedUser:
    user_id: str
    scope: str


class FakeAccounts:
    def __init__(
        self,
        *,
        client_id: str,
        redirect_uris: set[str] | None = None,
        user_id: str = "testdj",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.redirect_uris = redirect_uris  # None: any redirect Spotify would accept
        self.user_id = user_id  # who approves on the authorize page
        self.clock = clock
        self.deny = False  # the user clicks "Cancel": error=access_denied
        self.rotate_refresh = False
        self.access_lifetime = 3600
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._consents: dict[str, _Consent] = {}  # refresh token → consent
        self._access: dict[str, _Access] = {}
        self._issued: list[str] = []  # every token ever handed out, expired and revoked ones included

    # -- fault switches ---------------------------------------------------------------------------------------
    def expire_now(self) -> None:
        """Every user access token issued so far answers 401 from now on."""
        with self._lock:
            self._access.clear()

    def revoke_refresh(self) -> None:
        """Every refresh token issued so far answers invalid_grant (the user removed the app)."""
        with self._lock:
            for consent in self._consents.values():
                consent.revoked = True

    def age_consents(self, seconds: float) -> None:
        """Move every consent `seconds` into the past (past CONSENT_SECONDS: expired refresh tokens)."""
        with self._lock:
            for consent in self._consents.values():
                consent.consented_at -= seconds

    # -- what tests read ----------------------------------------------------------------------------------------
    def live_refresh_tokens(self) -> list[str]:
        with self._lock:
            return [token for token, consent in self._consents.items() if not consent.revoked]

    def issued_secrets(self) -> list[str]:
        """Every token ever handed out (access and refresh), for scanning stores for them in clear."""
        with self._lock:
            return list(self._issued)

    def user_for(self, access_token: str) -> AuthorizedUser | None:
        with self._lock:
            grant = self._access.get(access_token)
            if grant is None or grant.expires_at <= self.clock():
                return None
            return AuthorizedUser(grant.user_id, grant.scope)

    # -- GET /authorize -----------------------------------------------------------------------------------------
    def authorize(self, request: FakeRequest) -> FakeResponse:
        self.counts["authorize"] += 1
        query = {name: values[0] for name, values in request.query.items()}
        redirect_uri = query.get("redirect_uri", "")
        refusal = self._refuse_authorize(query, redirect_uri)
        if refusal is not None:
            return FakeResponse.html(f"<html><body>{refusal}</body></html>", 400)
        echo = {"state": query["state"]} if "state" in query else {}
        if self.deny:
            return _redirect(redirect_uri, {"error": "access_denied", **echo})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                user_id=self.user_id,
                challenge=query["code_challenge"],
                redirect_uri=redirect_uri,
                scope=query.get("scope", ""),
                issued_at=self.clock(),
            )
        return _redirect(redirect_uri, {"code": code, **echo})

    def _refuse_authorize(self, query: dict[str, str], redirect_uri: str) -> str | None:
        if query.get("client_id") != self.client_id:
            return "INVALID_CLIENT: Invalid client"
        if not self._redirect_allowed(redirect_uri):
            return "INVALID_CLIENT: Invalid redirect URI"
        if query.get("response_type") != "code":
            return "unsupported_response_type"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return "code_challenge_method must be S256 with a code_challenge"
        return None

    def _redirect_allowed(self, uri: str) -> bool:
        parts = urlsplit(uri)
        if parts.hostname == "localhost" or parts.scheme not in ("http", "https"):
            return False
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "[::1]", "::1"):
            return False
        return self.redirect_uris is None or uri in self.redirect_uris

    # -- POST /api/token ----------------------------------------------------------------------------------------
    def token(self, request: FakeRequest) -> FakeResponse | None:
        """The user grants; None for any other grant (client credentials: the caller's own fake)."""
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token"):
            return None
        self.counts[f"token_{grant}"] += 1
        if form.get("client_id") != self.client_id:
            return oauth_error("invalid_client", "Invalid client")
        if grant == "authorization_code":
            return self._exchange_code(form)
        return self._refresh(form)

    def _exchange_code(self, form: dict[str, str]) -> FakeResponse:
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None or code.used or self.clock() - code.issued_at > CODE_SECONDS:
                return oauth_error("invalid_grant", "Invalid authorization code")
            code.used = True  # spent even when the rest of the request is wrong
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error("invalid_grant", "Invalid redirect URI")
        if s256(form.get("code_verifier", "")) != code.challenge:
            return oauth_error("invalid_grant", "code_verifier was incorrect")
        refresh = "AQC-" + secrets.token_urlsafe(32)
        with self._lock:
            self._consents[refresh] = _Consent(code.user_id, code.scope, consented_at=self.clock())
            self._issued.append(refresh)
        return FakeResponse.json({**self._issue_access(code.user_id, code.scope), "refresh_token": refresh})

    def _refresh(self, form: dict[str, str]) -> FakeResponse:
        token = form.get("refresh_token", "")
        with self._lock:
            consent = self._consents.get(token)
            if consent is None or consent.revoked or self.clock() - consent.consented_at > CONSENT_SECONDS:
                return oauth_error("invalid_grant", "Refresh token revoked")
            rotated = None
            if self.rotate_refresh:
                consent.revoked = True
                rotated = "AQC-" + secrets.token_urlsafe(32)
                self._consents[rotated] = _Consent(consent.user_id, consent.scope, consent.consented_at)
                self._issued.append(rotated)
        body = self._issue_access(consent.user_id, consent.scope)
        if rotated is not None:
            body["refresh_token"] = rotated
        return FakeResponse.json(body)

    def _issue_access(self, user_id: str, scope: str) -> dict[str, Any]:
        access = "BQD-" + secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = _Access(user_id, scope, expires_at=self.clock() + self.access_lifetime)
            self._issued.append(access)
        # `scope` always: spotipy drops a cached token without it.
        return {
            "access_token": access,
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": self.access_lifetime,
        }


def _redirect(uri: str, params: dict[str, str]) -> FakeResponse:
    separator = "&" if "?" in uri else "?"
    return FakeResponse(status=302, headers={"Location": f"{uri}{separator}{urlencode(params)}"})
