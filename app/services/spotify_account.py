"""The user's Spotify account: connecting it (PKCE), keeping its tokens, and handing out access tokens.

Connecting: `start` keeps a one-time `state` (its hash), the PKCE verifier (sealed) and the API key that asked
(its name and hash) for AUTHORIZATION_MINUTES, and returns Spotify's authorize URL. `finish` (the callback)
takes that record once, checks the key still exists unchanged with the admin scope, exchanges the code with the
verifier, asks Spotify who the user is, and stores the account with both tokens sealed by SECRET_KEY.

Tokens: `access_token` returns the stored access token while it has more than a minute left, else refreshes it
with the row locked (PostgreSQL `FOR UPDATE`, and an in-process lock for SQLite), so two workers never spend
one refresh token: a rotated refresh token replaces the old one in the same transaction, and without rotation
the old one is kept. `invalid_grant` (revoked, or six months after consent) marks the account as needing
re-consent and is never retried: every later call fails at once with "reconnect Spotify".
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import requests
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import spotify_accounts
from app.db.base import utcnow
from app.db.models import SpotifyAccount
from app.errors import CratediggerError, PermanentSourceError, TransientSourceError
from app.sealed import SecretBox
from app.sources.http import Verdict, classify
from app.sources.ratelimit import AsyncRateLimiter
from app.sources.spotify.calls import CallPolicy
from app.sources.spotify.spotipy_setup import TokenEndpointError
from app.sources.spotify.user_auth import PLAYLIST_SCOPES, TokenGrant, UserAuthorization
from app.sources.spotify.user_client import DEFAULT_POLICY, SpotifyUserClient

AUTHORIZATION_MINUTES = 10
CONSENT_MONTHS = 6  # Spotify's refresh tokens stop working six months after the user's consent
TOKEN_MARGIN = dt.timedelta(seconds=60)  # refresh a token this close to its end instead of using it
CONNECT_HINT = "an admin connects one with GET /auth/spotify/login"
RECONNECT_HINT = "reconnect Spotify: open GET /auth/spotify/login with an admin key"

# The hash of the admin key named so, as it is now; None when it no longer exists or is not admin.
CurrentAdminKey = Callable[[str], Awaitable[str | None]]


class SpotifyAccountNotConfigured(PermanentSourceError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"Connecting a Spotify account needs {' and '.join(missing)}")
        self.missing = missing


class SpotifyNotConnected(PermanentSourceError):
    def __init__(self) -> None:
        super().__init__(f"No Spotify account is connected: {CONNECT_HINT}")


class ReconnectSpotify(PermanentSourceError):
    """The stored authorization is refused for good (never retried)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Spotify no longer accepts the stored authorization ({reason}): {RECONNECT_HINT}")
        self.reason = reason


class AuthorizationRefused(CratediggerError):
    """The callback could not connect the account; the message says why and what to do."""


@dataclass(frozen=True)
class AccountStatus:
    spotify_user_id: str
    display_name: str | None
    scope: str
    connected_by: str
    connected_at: dt.datetime
    consent_expires_at: dt.datetime
    last_refreshed_at: dt.datetime | None
    needs_reconsent: bool
    needs_reconsent_since: dt.datetime | None
    reconsent_reason: str | None

    @classmethod
    def of(cls, account: SpotifyAccount) -> AccountStatus:
        return cls(
            spotify_user_id=account.spotify_user_id,
            display_name=account.display_name,
            scope=account.scope,
            connected_by=account.connected_by,
            connected_at=account.consented_at,
            consent_expires_at=consent_expiry(account.consented_at),
            last_refreshed_at=account.refreshed_at,
            needs_reconsent=account.needs_reconsent_at is not None,
            needs_reconsent_since=account.needs_reconsent_at,
            reconsent_reason=account.reconsent_reason,
        )


def consent_expiry(consented_at: dt.datetime) -> dt.datetime:
    """Six calendar months after consent (the last day of a shorter month when the day does not exist)."""
    month_index = consented_at.month - 1 + CONSENT_MONTHS
    year, month = consented_at.year + month_index // 12, month_index % 12 + 1
    day = min(consented_at.day, calendar.monthrange(year, month)[1])
    return consented_at.replace(year=year, month=month, day=day)


def missing_account_settings(settings: Settings) -> list[str]:
    """What connecting an account needs: the Spotify app's client id, and SECRET_KEY to seal its tokens."""
    missing = [] if settings.spotify_client_id else ["SPOTIFY_CLIENT_ID"]
    return missing + ([] if settings.secret_key is not None else ["SECRET_KEY"])


class SpotifyAccounts:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        refresh_lock: asyncio.Lock,
        limiter: AsyncRateLimiter | None = None,
        http: requests.Session | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._refresh_lock = refresh_lock
        self._limiter = limiter
        self._http = http

    # -- configuration ----------------------------------------------------------------------------------------
    def _box(self) -> SecretBox:
        missing = missing_account_settings(self._settings)
        if missing or self._settings.secret_key is None:
            raise SpotifyAccountNotConfigured(missing)
        return SecretBox(self._settings.secret_key.get_secret_value())

    def _authorization(self) -> UserAuthorization:
        self._box()  # the same settings are needed for both halves
        return UserAuthorization(
            client_id=str(self._settings.spotify_client_id),
            redirect_uri=str(self._settings.spotify_redirect_uri),
            accounts_url=str(self._settings.spotify_accounts_url),
            session=self._http,
        )

    def user_client(self, policy: CallPolicy = DEFAULT_POLICY) -> SpotifyUserClient:
        """A client of the connected user's API, on this deployment's Spotify budget."""
        return SpotifyUserClient(
            tokens=self.access_token,
            api_url=str(self._settings.spotify_api_url),
            limiter=self._limiter,
            policy=policy,
            session=self._http,
        )

    # -- connecting -------------------------------------------------------------------------------------------
    async def start(self, *, caller_name: str, caller_key_hash: str) -> str:
        """Spotify's authorize URL for a new one-time state bound to the calling key."""
        box, authorization = self._box(), self._authorization()
        state = secrets.token_urlsafe(32)
        request = authorization.authorization_request(state)
        async with self._sessions.begin() as session:
            await spotify_accounts.add_authorization(
                session,
                state=state,
                code_verifier_sealed=box.seal(request.code_verifier).decode(),
                caller_name=caller_name,
                caller_key_hash=caller_key_hash,
                now=utcnow(),
                lifetime=dt.timedelta(minutes=AUTHORIZATION_MINUTES),
            )
        return request.url

    async def finish(
        self, *, state: str, code: str | None, error: str | None, current_admin_key: CurrentAdminKey
    ) -> AccountStatus:
        box, authorization = self._box(), self._authorization()
        async with self._sessions.begin() as session:  # spent now, whatever happens next
            pending = await spotify_accounts.take_authorization(session, state=state, now=utcnow())
        if pending is None:
            raise AuthorizationRefused(
                f"This Spotify authorization is unknown, already used or older than {AUTHORIZATION_MINUTES} "
                "minutes: start again with GET /auth/spotify/login"
            )
        if await current_admin_key(pending.caller_name) != pending.caller_key_hash:
            raise AuthorizationRefused(
                f"The API key that started this connection ({pending.caller_name}) was revoked, replaced or no "
                "longer has the admin scope: start again with an admin key"
            )
        if error is not None or code is None:
            raise AuthorizationRefused(f"Spotify did not authorize the connection ({error or 'no code'})")
        grant = await self._token(
            lambda: authorization.exchange_code(code, box.open(pending.code_verifier_sealed))
        )
        missing_scopes = set(PLAYLIST_SCOPES) - set(grant.scope.split())
        if missing_scopes:
            raise AuthorizationRefused(
                f"Spotify granted no {', '.join(sorted(missing_scopes))}: connect again"
            )
        user = await self._connected_user(grant.access_token)
        now = utcnow()
        async with self._sessions.begin() as session:
            account = await spotify_accounts.save_account(
                session,
                spotify_user_id=user[0],
                display_name=user[1],
                scope=grant.scope,
                refresh_token_sealed=box.seal(str(grant.refresh_token)).decode(),
                access_token_sealed=box.seal(grant.access_token).decode(),
                access_token_expires_at=now + dt.timedelta(seconds=grant.expires_in),
                connected_by=pending.caller_name,
                now=now,
            )
            return AccountStatus.of(account)

    async def _connected_user(self, access_token: str) -> tuple[str, str | None]:
        async def fixed(*, renew: bool = False) -> str:
            return access_token

        client = SpotifyUserClient(
            tokens=fixed,
            api_url=str(self._settings.spotify_api_url),
            limiter=self._limiter,
            session=self._http,
        )
        try:
            me = await client.current_user()
        except PermanentSourceError as refused:
            raise AuthorizationRefused(str(refused)) from refused
        finally:
            client.close()
        name = me.get("display_name")
        return str(me["id"]), name if isinstance(name, str) else None

    async def _token(self, request: Callable[[], TokenGrant]) -> TokenGrant:
        try:
            return await asyncio.to_thread(request)
        except TokenEndpointError as error:
            if error.status == 400:  # invalid_grant and the like: this code will never work
                raise AuthorizationRefused(
                    f"Spotify refused the authorization code ({error.description or error.error}): "
                    "start again with GET /auth/spotify/login"
                ) from error
            raise _token_trouble(error) from error
        except requests.RequestException as error:
            raise TransientSourceError(f"Spotify's accounts service did not answer: {error}") from error

    # -- the account ------------------------------------------------------------------------------------------
    async def status(self) -> AccountStatus | None:
        async with self._sessions() as session:
            account = await spotify_accounts.get_account(session)
            return None if account is None else AccountStatus.of(account)

    async def forget(self) -> bool:
        async with self._sessions.begin() as session:
            return await spotify_accounts.forget_account(session)

    async def access_token(self, *, renew: bool = False) -> str:
        """The connected user's access token; refreshed when it is about to end, or `renew`ed when refused."""
        box = self._box()
        async with self._refresh_lock, self._sessions.begin() as session:
            account = await spotify_accounts.get_account(session, for_update=True)
            if account is None:
                raise SpotifyNotConnected()
            if account.needs_reconsent_at is not None:
                raise ReconnectSpotify(account.reconsent_reason or "refused earlier")
            now = utcnow()
            expires = account.access_token_expires_at
            if (
                not renew
                and account.access_token_sealed
                and expires is not None
                and expires - now > TOKEN_MARGIN
            ):
                return box.open(account.access_token_sealed)
            outcome = await self._refresh(account, box, now)
        if isinstance(outcome, Exception):
            raise outcome  # after the transaction: the re-consent mark is kept
        return outcome

    async def _refresh(self, account: SpotifyAccount, box: SecretBox, now: dt.datetime) -> str | Exception:
        """Refresh on the locked row; the new access token, or the error to raise once the row is saved."""
        authorization = self._authorization()
        refresh_token = box.open(account.refresh_token_sealed)
        try:
            grant = await asyncio.to_thread(authorization.refresh, refresh_token)
        except TokenEndpointError as error:
            if error.error != "invalid_grant":
                return _token_trouble(error)
            reason = f"invalid_grant: {error.description or 'refresh token revoked or expired'}"
            account.needs_reconsent_at = now
            account.reconsent_reason = reason
            account.access_token_sealed = None
            return ReconnectSpotify(reason)
        except requests.RequestException as error:
            return TransientSourceError(f"Spotify's accounts service did not answer: {error}")
        account.access_token_sealed = box.seal(grant.access_token).decode()
        account.access_token_expires_at = now + dt.timedelta(seconds=grant.expires_in)
        account.refreshed_at = now
        if grant.refresh_token is not None and grant.refresh_token != refresh_token:
            account.refresh_token_sealed = box.seal(grant.refresh_token).decode()  # the old one is revoked
            account.refresh_token_rotated_at = now
        return grant.access_token


def _token_trouble(error: TokenEndpointError) -> CratediggerError:
    """A token request that failed for a reason other than the grant itself."""
    if classify(error.status) is Verdict.TRANSIENT:
        return TransientSourceError(
            f"Spotify's token endpoint answered HTTP {error.status}", retry_after=error.retry_after
        )
    return PermanentSourceError(
        f"Spotify's token endpoint refused the request (HTTP {error.status} {error.error}): check SPOTIFY_CLIENT_ID"
    )
