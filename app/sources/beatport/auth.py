"""Beatport API v4 authentication: a bearer token from a user's own account, shared by every worker.

How a token is obtained (shared/fixtures/beatport/api-v4/README.md, section 1):

* **Login flow** (the one most open-source Beatport tools use, with the public API-docs OAuth client):
  `POST auth/login/` (JSON username/password; sets a `sessionid` cookie) → `GET auth/o/authorize/` without
  following the redirect (the code is in `Location`) → `POST auth/o/token/` (`grant_type=authorization_code`).
  The requests carry browser-like headers (a Chrome User-Agent, `Origin: https://www.beatport.com`, a
  `Referer` of the previous step) because Beatport's CSRF check rejects them otherwise. A bad login is
  answered with HTTP 200 and an error body: it is recognised by the missing `username`.
* **Pasted token** (`BEATPORT_API_TOKEN`): the raw access token, or the JSON the browser receives from
  `auth/o/token/`. Its expiry comes from the JWT's `exp` claim when there is one; otherwise it is used until
  Beatport answers 401.

Tokens live in a `TokenStore`: Redis when `REDIS_URL` is set (one token for all workers), process memory in
embedded mode (everything runs in one process there; a restart costs one login). Refresh tokens are single-use
(Beatport rotates them on every exchange), so refreshing happens under the store's lock (a Redis lock across
workers) and the new pair is stored before the lock is released; a worker that waited for the lock finds the
new token and does not refresh again.

Secrets (password, tokens, authorization codes, session cookies) never appear in log lines, exception
messages or reprs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import LockError

from app.errors import PermanentSourceError, TransientSourceError
from app.sources.beatport.fetcher import parse_retry_after
from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

# The public client id of Beatport's API-docs page (app:docs); the same value in beets-beatport4,
# evgenygurin/beatport-mcp and fomoplayer (2026-06/07).
DOCS_CLIENT_ID = "0GIvkCltVIuPkkwSJHp6NDb3s0potTjLBQr388Dd"
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BROWSER_ORIGIN = "https://www.beatport.com"
# Refresh this long before the recorded expiry, so a request never leaves with a token about to lapse.
DEFAULT_REFRESH_MARGIN_SECONDS = 60.0
# How long a stored token record lives in Redis when it holds a refresh token (the refresh token outlives the
# ~10 h access token; its own lifetime is unknown, ~31 days is claimed).
REFRESHABLE_RECORD_TTL_SECONDS = 30 * 24 * 3600
LOCK_LEASE_SECONDS = 120.0  # longer than a whole login (three requests at the read timeout)
LOCK_WAIT_SECONDS = 150.0
TOKEN_KEY_PREFIX = "cratedigger:beatport:api-token:"

CREDENTIALS_HINT = "set BEATPORT_USERNAME and BEATPORT_PASSWORD, or paste a fresh BEATPORT_API_TOKEN"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token. `expires_at` is epoch seconds; None = unknown (used until Beatport answers 401)."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: float | None = None
    client_id: str = DOCS_CLIENT_ID
    source: str = "login"  # login | refresh | pasted: for logs and statuses, never the value

    def valid(self, *, margin: float = 0.0, now: float | None = None) -> bool:
        if self.expires_at is None:
            return True
        return self.expires_at - margin > (time.time() if now is None else now)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> ApiToken | None:
        try:
            data = json.loads(text)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=data.get("refresh_token") or None,
                expires_at=float(data["expires_at"]) if data.get("expires_at") is not None else None,
                client_id=str(data.get("client_id") or DOCS_CLIENT_ID),
                source=str(data.get("source") or "login"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable record is treated as no token (a new one is obtained)


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (unverified: only to read `exp`/`client_id`); {} when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def parse_pasted_token(text: str, *, now: float | None = None) -> ApiToken:
    """BEATPORT_API_TOKEN: a raw access token ("Bearer …" accepted) or the token endpoint's JSON."""
    text = text.strip()
    access: Any = text
    refresh: Any = None
    expires_in: Any = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise PermanentSourceError(
                "BEATPORT_API_TOKEN looks like JSON but could not be decoded: paste the whole JSON answer of "
                "/v4/auth/o/token/ or just the access_token value"
            ) from None
        access = data.get("access_token") if isinstance(data, dict) else None
        refresh = data.get("refresh_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in") if isinstance(data, dict) else None
    elif text.lower().startswith("bearer "):
        access = text[7:].strip()
    if not isinstance(access, str) or not access:
        raise PermanentSourceError("BEATPORT_API_TOKEN has no access_token: " + CREDENTIALS_HINT)
    claims = _jwt_claims(access)
    exp = claims.get("exp")
    expires_at: float | None = None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        expires_at = float(exp)
    elif isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and "iat" in claims:
        expires_at = float(claims["iat"]) + float(expires_in)
    client_id = claims.get("client_id")
    return ApiToken(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        client_id=client_id if isinstance(client_id, str) and client_id else DOCS_CLIENT_ID,
        source="pasted",
    )


# -- keeping auth secrets out of third-party debug logs ----------------------------------------------------
_SECRET_PATTERNS = (
    (re.compile(r"((?:sessionid|csrftoken)=)[^;,'\"\s]+", re.I), r"\1[redacted]"),
    (re.compile(r"([?&]code=)[^&'\"\s]+"), r"\1[redacted]"),
    (re.compile(r"(\"(?:access|refresh)_token\"\s*:\s*\")[^\"]+"), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
)


class RedactAuthSecrets(logging.Filter):
    """httpcore logs response headers at DEBUG (Set-Cookie: sessionid=…, Location: …?code=…): scrub them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = message
        for pattern, replacement in _SECRET_PATTERNS:
            scrubbed = pattern.sub(replacement, scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_REDACT = RedactAuthSecrets()
for _name in ("httpcore.http11", "httpcore.http2", "httpcore.connection", "httpx"):
    if not any(isinstance(f, RedactAuthSecrets) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_REDACT)


# -- token stores ------------------------------------------------------------------------------------------
class TokenStore(Protocol):
    """Where the current token lives, and the lock that serialises obtaining a new one."""

    async def load(self) -> ApiToken | None: ...
    async def save(self, token: ApiToken) -> None: ...
    async def clear(self) -> None: ...
    def lock(self) -> AbstractAsyncContextManager[None]: ...


def token_store_key(*, api_url: str, username: str | None, pasted_token: str | None) -> str:
    """A store key per account (and per pasted token), without any secret in it."""
    pasted = hashlib.sha256(pasted_token.encode()).hexdigest() if pasted_token else ""
    digest = hashlib.sha256(f"{api_url}\n{username or ''}\n{pasted}".encode()).hexdigest()
    return TOKEN_KEY_PREFIX + digest[:24]


class MemoryTokenStore:
    """Embedded mode: the token lives in this process, shared by every task the process runs."""

    def __init__(self) -> None:
        self._token: ApiToken | None = None
        self._lock = asyncio.Lock()

    async def load(self) -> ApiToken | None:
        return self._token

    async def save(self, token: ApiToken) -> None:
        self._token = token

    async def clear(self) -> None:
        self._token = None

    @asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        async with self._lock:
            yield


class RedisTokenStore:
    """REDIS_URL set: one token record per account in Redis, shared by all workers, with a Redis lock."""

    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self._key = key

    async def load(self) -> ApiToken | None:
        raw = await self._redis.get(self._key)
        return ApiToken.from_json(raw) if raw else None

    async def save(self, token: ApiToken) -> None:
        if token.refresh_token or token.expires_at is None:
            ttl = REFRESHABLE_RECORD_TTL_SECONDS
        else:
            ttl = max(60, int(token.expires_at - time.time()))
        await self._redis.set(self._key, token.to_json(), ex=ttl)

    async def clear(self) -> None:
        await self._redis.delete(self._key)

    @asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        lock = self._redis.lock(
            self._key + ":lock",
            timeout=LOCK_LEASE_SECONDS,
            blocking_timeout=LOCK_WAIT_SECONDS,
            thread_local=False,
        )
        try:
            acquired = await lock.acquire()
        except LockError as error:
            raise TransientSourceError(f"Could not take the Beatport token lock: {error}") from error
        if not acquired:
            raise TransientSourceError(
                f"Another worker held the Beatport token lock for over {LOCK_WAIT_SECONDS:.0f} s"
            )
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError:
                logger.warning("the Beatport token lock expired before it was released")


# -- the token manager -------------------------------------------------------------------------------------
class _RefreshRejected(Exception):
    """The refresh token was spent, stale or from another client (400 invalid_grant): log in again."""


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _error_text(body: Any) -> str | None:
    """A short human text from a Beatport error body ({"detail"}, {"error"}, field errors)."""
    if isinstance(body, dict):
        for name in ("detail", "error_description", "error", "non_field_errors", "message"):
            value = body.get(name)
            if isinstance(value, list) and value and isinstance(value[0], str):
                value = value[0]
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:200]
    return None


class BeatportAuth:
    """Gives out a valid access token; logs in or refreshes when needed, once for all workers."""

    def __init__(
        self,
        *,
        api_url: str,
        store: TokenStore,
        limiter: AsyncRateLimiter,
        username: str | None = None,
        password: SecretStr | None = None,
        pasted_token: SecretStr | None = None,
        client_id: str = DOCS_CLIENT_ID,
        timeout: httpx.Timeout | None = None,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._api_url = api_url.rstrip("/") + "/"
        self._store = store
        self._limiter = limiter
        self._username = username or None
        self._password = password if password is not None and password.get_secret_value() else None
        self._pasted = pasted_token if pasted_token is not None and pasted_token.get_secret_value() else None
        self._client_id = client_id
        self._timeout = timeout or httpx.Timeout(30.0, connect=5.0)
        self._margin = refresh_margin_seconds
        # What this instance sent: for tests and metrics.
        self.logins = 0
        self.refreshes = 0

    @property
    def configured(self) -> bool:
        return self._can_login or self._pasted is not None

    @property
    def _can_login(self) -> bool:
        return self._username is not None and self._password is not None

    def _url(self, path: str) -> str:
        return urljoin(self._api_url, path)

    def _secrets(self, *extra: str | None) -> list[str]:
        values = [self._password.get_secret_value() if self._password else None]
        values.append(self._pasted.get_secret_value() if self._pasted else None)
        return [v for v in (*values, *extra) if v]

    # -- public ------------------------------------------------------------------------------------------
    async def token(self) -> str:
        """A currently valid access token (from the store, or newly obtained under the lock)."""
        current = await self._load()
        if current is not None and current.valid(margin=self._margin):
            return current.access_token
        async with self._store.lock():
            current = await self._load()  # another worker may have renewed it while we waited
            if current is not None and current.valid(margin=self._margin):
                return current.access_token
            fresh = await self._obtain(current, why="expired" if current else "none stored")
            return fresh.access_token

    async def renew(self, rejected: str) -> str:
        """After Beatport answered 401 to `rejected`: a different, newly obtained token (once per 401)."""
        async with self._store.lock():
            current = await self._load()
            if (
                current is not None
                and current.access_token != rejected
                and current.valid(margin=self._margin)
            ):
                return current.access_token  # someone else already renewed it
            fresh = await self._obtain(current, why="rejected by the API (HTTP 401)")
            return fresh.access_token

    # -- obtaining ---------------------------------------------------------------------------------------
    async def _load(self) -> ApiToken | None:
        token = await self._store.load()
        if token is None and self._pasted is not None:
            # First use of a pasted token. Once it has been refreshed the store holds the successor and the
            # (now spent) pasted one is never read again; the store key changes when a new one is pasted.
            token = parse_pasted_token(self._pasted.get_secret_value())
            await self._store.save(token)
        return token

    async def _obtain(self, current: ApiToken | None, *, why: str) -> ApiToken:
        """Refresh (or log in) and store the result at once. Called with the store lock held."""
        token: ApiToken | None = None
        if current is not None and current.refresh_token:
            try:
                token = await self._refresh(current)
                logger.info("Beatport API token refreshed (previous one %s)", why)
            except _RefreshRejected:
                logger.info("Beatport refused the refresh token (spent or stale); logging in again")
        if token is None:
            if not self._can_login:
                if current is not None and current.source == "pasted":
                    raise PermanentSourceError(
                        "The pasted BEATPORT_API_TOKEN is no longer accepted (expired or revoked): "
                        + CREDENTIALS_HINT
                    )
                raise PermanentSourceError(
                    "The Beatport API token expired and cannot be renewed: " + CREDENTIALS_HINT
                )
            token = await self._login()
            logger.info("Logged in to the Beatport API (previous token %s)", why)
        await self._store.save(token)
        return token

    def _token_from_answer(self, data: Any, *, client_id: str, source: str) -> ApiToken:
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise PermanentSourceError(
                "Beatport's token endpoint answered without an access_token (the API changed?)"
            )
        expires_in = data.get("expires_in")
        expires_at = (
            time.time() + float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        refresh = data.get("refresh_token")
        return ApiToken(
            access_token=data["access_token"],
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=expires_at,
            client_id=client_id,
            source=source,
        )

    def _auth_client(self) -> httpx.AsyncClient:
        # A fresh client per login/refresh: its cookie jar (the session) dies with it, redirects are not followed.
        return httpx.AsyncClient(
            headers={
                "User-Agent": BROWSER_USER_AGENT,
                "Accept": "application/json, text/plain, */*",
                "Accept-Language": "en-US,en;q=0.9",
                "Origin": BROWSER_ORIGIN,
            },
            timeout=self._timeout,
            follow_redirects=False,
        )

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str, *, step: str, **kwargs: Any
    ) -> httpx.Response:
        await self._limiter.acquire()
        url = self._url(path)
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TimeoutException as error:
            raise TransientSourceError(
                f"Beatport did not answer the {step} request in time ({type(error).__name__})"
            ) from error
        except httpx.TransportError as error:
            raise TransientSourceError(
                f"Could not reach Beatport for the {step} request ({type(error).__name__})"
            ) from error
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                self._limiter.hold(retry_after)
            what = "rate-limited" if status == 429 else f"answered HTTP {status} to"
            raise TransientSourceError(f"Beatport {what} the {step} request", retry_after=retry_after)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    async def _login(self) -> ApiToken:
        assert self._username is not None and self._password is not None
        self.logins += 1
        login_referer = self._url("auth/login/")
        authorize_path = "auth/o/authorize/"
        redirect_uri = self._url("auth/o/post-message/")
        async with self._auth_client() as client:
            # 1. log in: a session cookie; a bad login is HTTP 200 with an error body (no `username`).
            response = await self._send(
                client,
                "POST",
                "auth/login/",
                step="login",
                json={"username": self._username, "password": self._password.get_secret_value()},
                headers={"Referer": login_referer},
            )
            body = self._json(response)
            if response.status_code != 200 or not isinstance(body, dict) or "username" not in body:
                said = _error_text(body)
                said = f": {_redact(said, self._secrets())}" if said else ""
                if response.status_code == 200:  # how Beatport answers a wrong username or password
                    raise PermanentSourceError(
                        f"Beatport rejected the login (HTTP 200 with an error{said}): check "
                        "BEATPORT_USERNAME and BEATPORT_PASSWORD"
                    )
                raise PermanentSourceError(
                    f"Beatport refused the login request (HTTP {response.status_code}{said})"
                )
            # 2. authorize: the code is in the redirect's Location (not followed).
            response = await self._send(
                client,
                "GET",
                authorize_path,
                step="authorize",
                params={
                    "response_type": "code",
                    "client_id": self._client_id,
                    "redirect_uri": redirect_uri,
                },
                headers={"Referer": login_referer},
            )
            location = response.headers.get("location", "")
            codes = parse_qs(urlsplit(location).query).get("code") if location else None
            if not response.is_redirect or not codes:
                if "invalid_request" in response.text or "invalid_client" in response.text:
                    why = "it rejected the client id or redirect URI"
                elif response.is_redirect:
                    why = "it did not accept the login session (redirected without a code)"
                else:
                    why = f"HTTP {response.status_code} without a redirect"
                raise PermanentSourceError(f"Beatport did not authorize the API login: {why}")
            code = codes[0]
            # 3. exchange the code; the CSRF check wants the authorize endpoint as Referer.
            response = await self._send(
                client,
                "POST",
                "auth/o/token/",
                step="token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": self._client_id,
                    "redirect_uri": redirect_uri,
                },
                headers={"Referer": self._url(authorize_path)},
            )
            body = self._json(response)
            if response.status_code != 200:
                said = _error_text(body)
                raise PermanentSourceError(
                    f"Beatport refused to issue an API token (HTTP {response.status_code}"
                    + (f": {_redact(said, self._secrets(code))}" if said else "")
                    + ")"
                )
            return self._token_from_answer(body, client_id=self._client_id, source="login")

    async def _refresh(self, current: ApiToken) -> ApiToken:
        assert current.refresh_token is not None
        self.refreshes += 1
        async with self._auth_client() as client:
            response = await self._send(
                client,
                "POST",
                "auth/o/token/",
                step="token refresh",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": current.refresh_token,
                    "client_id": current.client_id,
                },
                headers={"Referer": self._url("auth/o/authorize/")},
            )
        body = self._json(response)
        if response.status_code == 200:
            return self._token_from_answer(body, client_id=current.client_id, source="refresh")
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code in (400, 401):  # invalid_grant (spent/stale), invalid_client, ...
            raise _RefreshRejected()
        raise PermanentSourceError(
            f"Beatport refused to refresh the API token (HTTP {response.status_code}"
            + (f": {error}" if isinstance(error, str) else "")
            + ")"
        )


def token_store_for(
    *, api_url: str, username: str | None, pasted_token: SecretStr | None, redis: Redis | None
) -> TokenStore:
    """Redis (shared by all workers) when there is a Redis client, else this process's memory."""
    if redis is None:
        return MemoryTokenStore()
    pasted = pasted_token.get_secret_value() if pasted_token is not None else None
    key = token_store_key(api_url=api_url, username=username, pasted_token=pasted or None)
    return RedisTokenStore(redis, key)
