"""Gives out a valid Beatport API access token, obtaining a new one once for all workers when needed.

Tokens come from a user's own account (the login flow, `login.py`) or are pasted (`BEATPORT_API_TOKEN`,
`tokens.py`), and live in a `TokenStore` (`stores.py`). Refresh tokens are single-use, so refreshing happens
under the store's lock (a Redis lock across workers) and the new pair is stored before the lock is released;
a worker that waited for the lock finds the new token and does not refresh again.

Secrets (password, tokens, authorization codes, session cookies) never appear in log lines, exception
messages or reprs.
"""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

from app.errors import PermanentSourceError
from app.sources.beatport.auth.login import (
    AuthClientFactory,
    LoginFlow,
    RefreshRejected,
    browser_client_factory,
)
from app.sources.beatport.auth.stores import TokenStore
from app.sources.beatport.auth.tokens import CREDENTIALS_HINT, DOCS_CLIENT_ID, ApiToken, parse_pasted_token
from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

# Refresh this long before the recorded expiry, so a request never leaves with a token about to lapse.
DEFAULT_REFRESH_MARGIN_SECONDS = 60.0


class BeatportAuth:
    """Gives out a valid access token; logs in or refreshes when needed, once for all workers.

    `client_factory` builds the fresh `httpx.AsyncClient` each login or refresh runs on (tests hand in
    their own); by default a plain client with `timeout`.
    """

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
        client_factory: AuthClientFactory | None = None,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._store = store
        self._username = username or None
        self._password = password if password is not None and password.get_secret_value() else None
        self._pasted = pasted_token if pasted_token is not None and pasted_token.get_secret_value() else None
        self._flow = LoginFlow(
            api_url=api_url,
            limiter=limiter,
            client_factory=client_factory
            or browser_client_factory(timeout or httpx.Timeout(30.0, connect=5.0)),
            client_id=client_id,
        )
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
                self.refreshes += 1
                token = await self._flow.refresh(current)
                logger.info("Beatport API token refreshed (previous one %s)", why)
            except RefreshRejected:
                logger.info("Beatport refused the refresh token (spent or stale); logging in again")
        if token is None:
            token = await self._login(current, why=why)
        await self._store.save(token)
        return token

    async def _login(self, current: ApiToken | None, *, why: str) -> ApiToken:
        if self._username is None or self._password is None:
            if current is not None and current.source == "pasted":
                raise PermanentSourceError(
                    "The pasted BEATPORT_API_TOKEN is no longer accepted (expired or revoked): "
                    + CREDENTIALS_HINT
                )
            raise PermanentSourceError(
                "The Beatport API token expired and cannot be renewed: " + CREDENTIALS_HINT
            )
        self.logins += 1
        token = await self._flow.login(self._username, self._password.get_secret_value())
        logger.info("Logged in to the Beatport API (previous token %s)", why)
        return token
