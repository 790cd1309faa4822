"""What spotipy runs on: the token manager and the API session, shaped for SpotifyClient's retry policy."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from spotipy import Spotify
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials

from app.observability.metrics import record_answer
from app.sources.http import header, parse_retry_after

T = TypeVar("T", bound=requests.Response)


def counted(site: str, send: Callable[[], T]) -> T:
    """Send one request and count it by its status class (or as an error: no answer) under `site`."""
    try:
        response = send()
    except requests.RequestException:
        record_answer(site, None)
        raise
    record_answer(site, response.status_code)
    return response


class TokenEndpointError(Exception):
    """A failed token request, with what the retry policy needs (spotipy's SpotifyOauthError lacks the status)."""

    def __init__(
        self, status: int, error: str | None, retry_after: float | None, description: str | None = None
    ) -> None:
        super().__init__(f"token endpoint answered HTTP {status} ({error or 'no error code'})")
        self.status = status
        self.error = error
        self.retry_after = retry_after
        self.description = description  # the OAuth `error_description`, e.g. "Refresh token revoked"


def token_response(response: requests.Response) -> dict[str, Any]:
    """A token endpoint's JSON answer, or TokenEndpointError with what the retry policy needs."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        found = payload if isinstance(payload, dict) else {}
        error, description = found.get("error"), found.get("error_description")
        raise TokenEndpointError(
            response.status_code,
            error if isinstance(error, str) else None,
            parse_retry_after(header(response.headers, "retry-after")),
            description if isinstance(description, str) else None,
        )
    if not isinstance(payload, dict) or not payload.get("access_token") or "expires_in" not in payload:
        raise TokenEndpointError(response.status_code, "malformed token response", None)
    return payload


def api_client(auth_manager: Any, session: requests.Session, *, timeout: float, api_url: str) -> Spotify:
    """spotipy on `session` at `api_url`, without retries of its own: spotipy mounts its urllib3 Retry adapter
    only on sessions it builds itself, and that adapter would sleep through a 429 inside the call instead of
    letting the caller see Retry-After."""
    client = Spotify(
        auth_manager=auth_manager,
        requests_session=session,
        requests_timeout=timeout,
        retries=0,
        status_retries=0,
    )
    client.prefix = api_url if api_url.endswith("/") else api_url + "/"
    return client


class CountingSession(requests.Session):
    """What spotipy sends API requests through: counts each one (including ones that then time out) and sends
    it on `inner` (a caller's session) or, without one, itself. spotipy wants a `requests.Session`."""

    def __init__(self, inner: requests.Session | None = None) -> None:
        super().__init__()
        self._inner = inner
        self._count_lock = threading.Lock()  # calls arrive from several worker threads
        self.count = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        with self._count_lock:
            self.count += 1
        send = self._inner.request if self._inner is not None else super().request
        return counted("spotify", lambda: send(method, url, *args, **kwargs))


class ClientCredentials(SpotifyClientCredentials):  # type: ignore[misc]  # spotipy is untyped
    def __init__(
        self, client_id: str, client_secret: str, *, token_url: str, session: requests.Session, timeout: float
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            requests_session=session,
            requests_timeout=timeout,
            cache_handler=MemoryCacheHandler(),  # the default CacheFileHandler writes ./.cache
        )
        # An instance attribute shadows the class default: other spotipy users in the process are unaffected.
        self.OAUTH_TOKEN_URL = token_url
        self._token_lock = threading.Lock()
        self.token_requests = 0

    def get_access_token(self, as_dict: bool = True, check_cache: bool = True) -> Any:
        # Serialised so that concurrent worker threads wait for one token request instead of each sending one.
        with self._token_lock:
            return super().get_access_token(as_dict=as_dict, check_cache=check_cache)

    def drop_cached_token(self) -> None:
        with self._token_lock:
            self.cache_handler.save_token_to_cache(None)

    def _request_access_token(self) -> dict[str, Any]:
        # Replaces spotipy's version, which logs the Basic header (the secret, base64) at DEBUG level and
        # folds every failure into SpotifyOauthError without the HTTP status the retry policy needs.
        self.token_requests += 1
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode("ascii")
        response = counted(
            "spotify_accounts",
            lambda: self._session.post(
                self.OAUTH_TOKEN_URL,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
                timeout=self.requests_timeout,
            ),
        )
        return token_response(response)
