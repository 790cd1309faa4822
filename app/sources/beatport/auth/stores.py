"""Where the Beatport API token lives, and the lock that serialises obtaining a new one.

Redis when `REDIS_URL` is set (one token for all workers, a Redis lock across them); process memory in
embedded mode (everything runs in one process there; a restart costs one login). Refresh tokens are
single-use (Beatport rotates them on every exchange), so a new pair is stored before the lock is released.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import LockError

from app.errors import TransientSourceError
from app.sealed import SealBroken, SecretBox
from app.sources.beatport.auth.tokens import ApiToken

logger = logging.getLogger(__name__)

# How long a stored token record lives in Redis when it holds a refresh token (the refresh token outlives the
# ~10 h access token; its own lifetime is unknown, ~31 days is claimed).
REFRESHABLE_RECORD_TTL_SECONDS = 30 * 24 * 3600
LOCK_LEASE_SECONDS = 120.0  # longer than a whole login (three requests at the read timeout)
LOCK_WAIT_SECONDS = 150.0
TOKEN_KEY_PREFIX = "cratedigger:beatport:api-token:"


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
    """REDIS_URL set: one token record per account in Redis, shared by all workers, with a Redis lock. The
    record is sealed with SECRET_KEY: Redis never holds a token in clear."""

    def __init__(self, redis: Redis, key: str, *, box: SecretBox) -> None:
        self._redis = redis
        self._key = key
        self._box = box

    async def load(self) -> ApiToken | None:
        raw = await self._redis.get(self._key)
        if not raw:
            return None
        try:
            return ApiToken.from_json(self._box.open(raw))
        except SealBroken:  # SECRET_KEY changed, or a record from before sealing: log in again
            logger.warning("the stored Beatport token could not be opened with SECRET_KEY; logging in again")
            return None

    async def save(self, token: ApiToken) -> None:
        if token.refresh_token or token.expires_at is None:
            ttl = REFRESHABLE_RECORD_TTL_SECONDS
        else:
            ttl = max(60, int(token.expires_at - time.time()))
        await self._redis.set(self._key, self._box.seal(token.to_json()), ex=ttl)

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


def token_store_for(
    *,
    api_url: str,
    username: str | None,
    pasted_token: SecretStr | None,
    redis: Redis | None,
    secret_key: SecretStr | None = None,
) -> TokenStore:
    """Redis (shared by all workers, sealed with SECRET_KEY) when there is a Redis client, else memory."""
    if redis is None:
        return MemoryTokenStore()
    if secret_key is None:
        raise ValueError("SECRET_KEY must be set to keep Beatport tokens in Redis (they are stored sealed)")
    pasted = pasted_token.get_secret_value() if pasted_token is not None else None
    key = token_store_key(api_url=api_url, username=username, pasted_token=pasted or None)
    return RedisTokenStore(redis, key, box=SecretBox(secret_key.get_secret_value()))
