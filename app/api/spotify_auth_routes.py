"""Connecting the user's Spotify account (PKCE): `GET /auth/spotify/login`, `GET /auth/spotify/callback`,
`GET /auth/spotify`, `DELETE /auth/spotify`.

The callback is where Spotify sends the user's browser back, so it cannot carry an API key. Its access rule is
PUBLIC, and the one-time `state` is its credential: 256 random bits handed only to the admin key that called
`/login`, kept as a hash for ten minutes, spent by its first use, and honoured only while that key still exists
unchanged with the admin scope. A callback without a known state changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from app.api.access import ADMIN, PUBLIC, READ, AdminCaller, current_key
from app.api.callback_page import connected_page, refused_page, wants_html
from app.api.deps import ResourcesDep
from app.api.input_types import no_nul
from app.api.responses import error_responses
from app.db.api_keys import Scope
from app.errors import PermanentSourceError, TransientSourceError
from app.services.resources import Resources
from app.services.spotify_account import (
    RECONNECT_HINT,
    AccountStatus,
    AuthorizationRefused,
    SpotifyAccountNotConfigured,
    SpotifyAccounts,
)

router = APIRouter(prefix="/auth/spotify", tags=["spotify account"])

CallbackText = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(no_nul)]
SPOTIFY_DOWN_RETRY_AFTER_SECONDS = 30


class SpotifyAccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    spotify_user_id: str
    display_name: str | None
    scope: str
    connected_by: str  # the API key that connected it
    connected_at: dt.datetime
    consent_expires_at: dt.datetime  # six months after consent: connect again before then
    last_refreshed_at: dt.datetime | None
    needs_reconsent: bool  # Spotify refused the stored authorization: connect again
    needs_reconsent_since: dt.datetime | None
    note: str | None = None

    @classmethod
    def of(cls, found: AccountStatus) -> SpotifyAccountOut:
        shown = cls.model_validate(found)
        if found.needs_reconsent:
            shown.note = f"{found.reconsent_reason}: {RECONNECT_HINT}"
        return shown


class CallbackQuery(BaseModel):
    """What Spotify appends to the redirect URI: `code` and `state`, or `error` and `state`."""

    model_config = ConfigDict(extra="forbid")

    state: CallbackText
    code: CallbackText | None = None
    error: CallbackText | None = None


def _unconfigured(error: SpotifyAccountNotConfigured) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"{error}: set it and restart the api and worker (SPOTIFY_REDIRECT_URI must also be registered "
        "in the Spotify app).",
    )


def _accounts(resources: Resources) -> SpotifyAccounts:
    return resources.spotify_accounts()


@router.get(
    "/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        302: {
            "description": "To Spotify's authorize page (PKCE S256, a one-time state, the playlist scopes)",
            "headers": {"Location": {"description": "Spotify's authorize URL", "schema": {"type": "string"}}},
        },
    },
)
async def spotify_login(caller: AdminCaller, resources: ResourcesDep) -> RedirectResponse:
    """Start connecting a Spotify account: open the `Location` in the browser signed in to Spotify; Spotify sends
    it back to SPOTIFY_REDIRECT_URI (`/auth/spotify/callback`) within ten minutes."""
    key = await current_key(resources, caller.name)
    if key is None:  # revoked between the check and now
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Unknown or revoked API key.")
    try:
        url = await _accounts(resources).start(caller_name=caller.name, caller_key_hash=key[0])
    except SpotifyAccountNotConfigured as error:
        raise _unconfigured(error) from error
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get(
    "/callback",
    dependencies=[PUBLIC],
    response_model=SpotifyAccountOut,
    responses={
        200: {"content": {"text/html": {}}, "description": "The account; a page in words for a browser"},
        **error_responses(422, 503),
    },
)
async def spotify_callback(
    query: Annotated[CallbackQuery, Query()], request: Request, resources: ResourcesDep
) -> SpotifyAccountOut | HTMLResponse:
    """Where Spotify sends the browser back. No API key: the one-time `state` that `/login` handed to an admin
    key is the credential. Connects the account (its refresh token stored sealed with SECRET_KEY). A browser
    (`Accept: text/html`) gets the outcome as a page; anything else the account as JSON."""
    try:
        account = await _connect(query, resources)
    except HTTPException as error:
        if not wants_html(request):
            raise
        page = refused_page(str(error.detail))
        return HTMLResponse(page, status_code=error.status_code, headers=error.headers)
    if wants_html(request):
        expires = account.consent_expires_at.strftime("%Y-%m-%d")
        return HTMLResponse(
            connected_page(
                display_name=account.display_name,
                spotify_user_id=account.spotify_user_id,
                consent_expires_at=expires,
            )
        )
    return account


async def _connect(query: CallbackQuery, resources: Resources) -> SpotifyAccountOut:
    """The callback's work; HTTPException for what it refuses."""

    async def admin_key_hash(name: str) -> str | None:
        found = await current_key(resources, name)
        return found[0] if found is not None and found[1] >= Scope.admin else None

    try:
        account = await _accounts(resources).finish(
            state=query.state, code=query.code, error=query.error, current_admin_key=admin_key_hash
        )
    except SpotifyAccountNotConfigured as error:
        raise _unconfigured(error) from error
    except AuthorizationRefused as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    except TransientSourceError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"{error}: start again with GET /auth/spotify/login",
            headers={"Retry-After": str(SPOTIFY_DOWN_RETRY_AFTER_SECONDS)},
        ) from error
    except PermanentSourceError as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(error)) from error
    return SpotifyAccountOut.of(account)


@router.get("", dependencies=[READ], responses=error_responses(404))
async def spotify_account(resources: ResourcesDep) -> SpotifyAccountOut:
    """The connected account: who, when consent ends, and whether Spotify wants it connected again."""
    found = await _accounts(resources).status()
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail="No Spotify account is connected: an admin connects one with GET /auth/spotify/login.",
        )
    return SpotifyAccountOut.of(found)


@router.delete(
    "", status_code=status.HTTP_204_NO_CONTENT, dependencies=[ADMIN], responses=error_responses(404)
)
async def forget_spotify_account(resources: ResourcesDep) -> Response:
    """Forget the connected account and its tokens (remove the app's access in the Spotify account's settings
    too). Playlists already written stay on Spotify."""
    if not await _accounts(resources).forget():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No Spotify account is connected.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
