"""The Beatport login flow: login → authorize → token, and the refresh-token exchange.

The flow most open-source Beatport tools use, with the public API-docs OAuth client
(shared/fixtures/beatport/api-v4/README.md, section 1): `POST auth/login/` (JSON username/password; sets a
`sessionid` cookie) → `GET auth/o/authorize/` without following the redirect (the code is in `Location`) →
`POST auth/o/token/` (`grant_type=authorization_code`). The requests carry browser-like headers (a Chrome
User-Agent, `Origin: https://www.beatport.com`, a `Referer` of the previous step) because Beatport's CSRF
check rejects them otherwise. A bad login is answered with HTTP 200 and an error body: it is recognised by
the missing `username`.

Each login or refresh runs on a fresh client from `client_factory`: its cookie jar (the session) dies with
it. Statuses, Retry-After, body caps and connection failures follow `app.sources.http`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from app.errors import PermanentSourceError
from app.sources.beatport.auth.redaction import redact
from app.sources.beatport.auth.tokens import DOCS_CLIENT_ID, ApiToken, token_from_answer
from app.sources.http import Answer, Site, SiteClient, error_detail
from app.sources.ratelimit import AsyncRateLimiter

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BROWSER_ORIGIN = "https://www.beatport.com"
# Sent with every auth request (not only set on the default client), so a client handed in by a test or a
# caller passes the CSRF check the same way.
BROWSER_HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
    "Origin": BROWSER_ORIGIN,
}
AUTH_SITE = Site(name="Beatport", max_body_bytes=1024 * 1024)

AuthClientFactory = Callable[[], httpx.AsyncClient]


def browser_client_factory(timeout: httpx.Timeout) -> AuthClientFactory:
    """Fresh clients that do not follow redirects (the authorize step reads its redirect)."""

    def build() -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    return build


class RefreshRejected(Exception):
    """The refresh token was spent, stale or from another client (400 invalid_grant): log in again."""


class LoginFlow:
    def __init__(
        self,
        *,
        api_url: str,
        limiter: AsyncRateLimiter,
        client_factory: AuthClientFactory,
        client_id: str = DOCS_CLIENT_ID,
    ) -> None:
        self._api_url = api_url.rstrip("/") + "/"
        self._limiter = limiter
        self._client_factory = client_factory
        self._client_id = client_id

    def _url(self, path: str) -> str:
        return urljoin(self._api_url, path)

    async def _send(self, http: SiteClient, method: str, path: str, *, referer: str, **kwargs: Any) -> Answer:
        """One step; a transient answer (429, 5xx, challenge) is raised, any other is the step's to read."""
        headers = {**BROWSER_HEADERS, "Referer": referer}
        answer = await http.send(method, self._url(path), follow_redirects=False, headers=headers, **kwargs)
        http.raise_transient(answer)
        return answer

    async def login(self, username: str, password: str) -> ApiToken:
        login_referer = self._url("auth/login/")
        authorize_path = "auth/o/authorize/"
        redirect_uri = self._url("auth/o/post-message/")
        async with self._client_factory() as client:
            http = SiteClient(client, site=AUTH_SITE, limiter=self._limiter)
            # 1. log in: a session cookie; a bad login is HTTP 200 with an error body (no `username`).
            answer = await self._send(
                http,
                "POST",
                "auth/login/",
                referer=login_referer,
                json={"username": username, "password": password},
            )
            _check_login(answer, secrets=[password])
            # 2. authorize: the code is in the redirect's Location (not followed).
            answer = await self._send(
                http,
                "GET",
                authorize_path,
                referer=login_referer,
                params={"response_type": "code", "client_id": self._client_id, "redirect_uri": redirect_uri},
            )
            code = _authorization_code(answer)
            # 3. exchange the code; the CSRF check wants the authorize endpoint as Referer.
            answer = await self._send(
                http,
                "POST",
                "auth/o/token/",
                referer=self._url(authorize_path),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": self._client_id,
                    "redirect_uri": redirect_uri,
                },
            )
        if answer.status != 200:
            said = error_detail(answer.body)
            raise PermanentSourceError(
                f"Beatport refused to issue an API token (HTTP {answer.status}"
                + (f": {redact(said, [password, code])}" if said else "")
                + ")"
            )
        return token_from_answer(answer.json(), client_id=self._client_id, source="login")

    async def refresh(self, current: ApiToken) -> ApiToken:
        """Exchange `current`'s single-use refresh token; RefreshRejected when Beatport will not."""
        assert current.refresh_token is not None
        async with self._client_factory() as client:
            answer = await self._send(
                SiteClient(client, site=AUTH_SITE, limiter=self._limiter),
                "POST",
                "auth/o/token/",
                referer=self._url("auth/o/authorize/"),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": current.refresh_token,
                    "client_id": current.client_id,
                },
            )
        body = answer.json()
        if answer.status == 200:
            return token_from_answer(body, client_id=current.client_id, source="refresh")
        if answer.status in (400, 401):  # invalid_grant (spent/stale), invalid_client, ...
            raise RefreshRejected()
        error = body.get("error") if isinstance(body, dict) else None
        raise PermanentSourceError(
            f"Beatport refused to refresh the API token (HTTP {answer.status}"
            + (f": {error}" if isinstance(error, str) else "")
            + ")"
        )


def _check_login(answer: Answer, *, secrets: list[str]) -> None:
    body = answer.json()
    if answer.status == 200 and isinstance(body, dict) and "username" in body:
        return
    said = error_detail(answer.body)
    said = f": {redact(said, secrets)}" if said else ""
    if answer.status == 200:  # how Beatport answers a wrong username or password
        raise PermanentSourceError(
            f"Beatport rejected the login (HTTP 200 with an error{said}): check "
            "BEATPORT_USERNAME and BEATPORT_PASSWORD"
        )
    raise PermanentSourceError(f"Beatport refused the login request (HTTP {answer.status}{said})")


def _authorization_code(answer: Answer) -> str:
    location = answer.headers.get("location", "")
    codes = parse_qs(urlsplit(location).query).get("code") if location else None
    if answer.is_redirect and codes:
        return str(codes[0])
    if "invalid_request" in answer.text or "invalid_client" in answer.text:
        why = "it rejected the client id or redirect URI"
    elif answer.is_redirect:
        why = "it did not accept the login session (redirected without a code)"
    else:
        why = f"HTTP {answer.status} without a redirect"
    raise PermanentSourceError(f"Beatport did not authorize the API login: {why}")
