"""API keys (contract, second part: "Access"): created with a scope, stored as a hash, revoked by name."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from enum import IntEnum

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiKey

KEY_PREFIX = "cd_"
# last_used_at is written at most this often per key: a write per request would cost more than the lookup.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class Scope(IntEnum):
    """Ordered: a key's scope covers every lower one (admin ⊃ write ⊃ read)."""

    read = 1
    write = 2
    admin = 3


class KeyNameTakenError(ValueError):
    pass


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(session: AsyncSession, *, name: str, scope: Scope) -> tuple[ApiKey, str]:
    """A new key and its secret, which is shown once and never stored."""
    if await session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise KeyNameTakenError(f"a key named {name!r} exists already: revoke it first or pick another name")
    secret = new_secret()
    key = ApiKey(name=name, scope=scope.name, key_hash=hash_key(secret), key_prefix=secret[:10])
    session.add(key)
    await session.commit()
    return key, secret


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).all()


async def count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def revoke_key(session: AsyncSession, *, name: str) -> bool:
    """Delete the key named so; False when there is none. Requests with it get 401 from then on."""
    deleted = await session.execute(delete(ApiKey).where(ApiKey.name == name))
    await session.commit()
    return bool(deleted.rowcount)  # type: ignore[attr-defined]


async def scope_of(session: AsyncSession, secret: str) -> tuple[str, Scope] | None:
    """The name and scope of the key with this secret (None: unknown or revoked); notes when it was used."""
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    if key is None:
        return None
    now = dt.datetime.now(dt.UTC)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
            .values(last_used_at=now)
        )
        await session.commit()
    return key.name, Scope[key.scope]


async def key_hash_of(session: AsyncSession, *, name: str) -> tuple[str, Scope] | None:
    """The stored hash and scope of the key named so (None: revoked or never made); a dashboard session names
    its key and is checked against this on every request."""
    row = (
        await session.execute(select(ApiKey.key_hash, ApiKey.scope).where(ApiKey.name == name))
    ).one_or_none()
    return None if row is None else (row.key_hash, Scope[row.scope])
