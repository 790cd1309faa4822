"""The connected Spotify account and the authorizations started for it. Secrets arrive sealed (app.sealed):
nothing here sees a token in clear."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import SpotifyAccount, SpotifyAuthorization

ACCOUNT_ID = 1  # one account per deployment


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass(frozen=True)
class PendingAuthorization:
    code_verifier_sealed: str
    caller_name: str
    caller_key_hash: str


async def add_authorization(
    session: AsyncSession,
    *,
    state: str,
    code_verifier_sealed: str,
    caller_name: str,
    caller_key_hash: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> None:
    """Keep a started authorization (and drop the expired ones)."""
    await session.execute(delete(SpotifyAuthorization).where(SpotifyAuthorization.expires_at < now))
    session.add(
        SpotifyAuthorization(
            state_hash=state_hash(state),
            code_verifier_sealed=code_verifier_sealed,
            caller_name=caller_name,
            caller_key_hash=caller_key_hash,
            created_at=now,
            expires_at=now + lifetime,
        )
    )


async def take_authorization(
    session: AsyncSession, *, state: str, now: dt.datetime
) -> PendingAuthorization | None:
    """The authorization `state` names, removed so that it serves once; None when unknown, used or expired.
    Two callbacks racing with one state: only the one whose DELETE removed the row gets it."""
    key = state_hash(state)
    found = await session.get(SpotifyAuthorization, key)
    if found is None:
        return None
    pending = PendingAuthorization(found.code_verifier_sealed, found.caller_name, found.caller_key_hash)
    expired = found.expires_at <= now
    removed = await session.execute(
        delete(SpotifyAuthorization).where(SpotifyAuthorization.state_hash == key)
    )
    if not removed.rowcount or expired:  # type: ignore[attr-defined]
        return None
    return pending


async def get_account(session: AsyncSession, *, for_update: bool = False) -> SpotifyAccount | None:
    """The account; `for_update` locks its row until the transaction ends (PostgreSQL), so one worker at a time
    refreshes its tokens: a rotated refresh token must not be spent twice."""
    stmt = select(SpotifyAccount).where(SpotifyAccount.id == ACCOUNT_ID)
    if for_update:
        stmt = stmt.with_for_update()
    found: SpotifyAccount | None = await session.scalar(stmt)
    return found


async def save_account(
    session: AsyncSession,
    *,
    spotify_user_id: str,
    display_name: str | None,
    scope: str,
    refresh_token_sealed: str,
    access_token_sealed: str,
    access_token_expires_at: dt.datetime,
    connected_by: str,
    now: dt.datetime,
) -> SpotifyAccount:
    """The account just connected, replacing any earlier one (consent starts now)."""
    await session.execute(delete(SpotifyAccount))
    account = SpotifyAccount(
        id=ACCOUNT_ID,
        spotify_user_id=spotify_user_id,
        display_name=display_name,
        scope=scope,
        refresh_token_sealed=refresh_token_sealed,
        access_token_sealed=access_token_sealed,
        access_token_expires_at=access_token_expires_at,
        consented_at=now,
        connected_by=connected_by,
        refreshed_at=now,
    )
    session.add(account)
    return account


async def forget_account(session: AsyncSession) -> bool:
    removed = await session.execute(delete(SpotifyAccount))
    return bool(removed.rowcount)  # type: ignore[attr-defined]
