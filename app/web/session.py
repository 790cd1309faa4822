"""The dashboard's session: a cookie signed with SECRET_KEY (itsdangerous), HttpOnly and SameSite=Strict.

It holds the key's name and scope, a fingerprint of the key (an HMAC of its stored hash, never the key), a CSRF
token and an expiry. Every request checks the fingerprint against the key as it is now (the `api_keys` row by
name, or API_ADMIN_KEY), so a revoked key (or a new key under the same name) ends the session at once, and the
scope shown is the key's current one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.api.access import current_key
from app.db.api_keys import Scope
from app.services.resources import Resources

SESSION_COOKIE = "cratedigger_session"
LOGIN_COOKIE = "cratedigger_login"  # the login form's CSRF token, before there is a session
SESSION_SECONDS = 12 * 3600
LOGIN_FORM_SECONDS = 3600
_SALT = "cratedigger-dashboard-session"
_LOGIN_SALT = "cratedigger-dashboard-login"


@dataclass(frozen=True)
class DashboardSession:
    name: str  # the key's name (API_ADMIN_KEY for the environment's key)
    scope: Scope  # as the key has it now
    csrf: str
    expires_at: int


def install_secret(app: FastAPI) -> None:
    """SECRET_KEY signs sessions; without it (embedded mode run by hand, tests) a random key of this process
    does, so sessions end when it restarts. Several API processes need REDIS_URL, which requires SECRET_KEY."""
    secret = app.state.settings.secret_key
    app.state.dashboard_secret = (
        secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    )


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.dashboard_secret
    return secret


def _serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(request), salt=salt)


def fingerprint(request: Request, key_hash: str) -> str:
    return hmac.new(_secret(request), key_hash.encode(), hashlib.sha256).hexdigest()[:32]


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def start_session(request: Request, response: Response, *, name: str, scope: Scope, key_hash: str) -> None:
    payload = {
        "n": name,
        "s": scope.name,
        "f": fingerprint(request, key_hash),
        "c": secrets.token_urlsafe(32),
        "e": int(time.time()) + SESSION_SECONDS,
    }
    value = _serializer(request, _SALT).dumps(payload)
    _set_cookie(request, response, SESSION_COOKIE, value, SESSION_SECONDS)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def _signed_payload(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        payload = _serializer(request, _SALT).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # tampered, signed with another SECRET_KEY, or older than SESSION_SECONDS
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), int) or payload["e"] < time.time():
        return None
    return payload


async def current_session(request: Request, resources: Resources) -> DashboardSession | None:
    """The signed-in session, or None: no cookie, a bad signature, expired, or its key revoked or replaced."""
    payload = _signed_payload(request)
    if payload is None:
        return None
    name, stored_fingerprint, csrf = payload.get("n"), payload.get("f"), payload.get("c")
    if not (isinstance(name, str) and isinstance(stored_fingerprint, str) and isinstance(csrf, str)):
        return None
    key = await current_key(resources, name)
    if key is None or not hmac.compare_digest(fingerprint(request, key[0]), stored_fingerprint):
        return None
    return DashboardSession(name=name, scope=key[1], csrf=csrf, expires_at=payload["e"])


def set_login_form_token(request: Request, response: Response, token: str) -> None:
    """The login form's token, kept in a cookie of its own too (double submit): a form on another site cannot
    read it, so it cannot sign a browser in under the attacker's key."""
    value = _serializer(request, _LOGIN_SALT).dumps(token)
    _set_cookie(request, response, LOGIN_COOKIE, value, LOGIN_FORM_SECONDS)


def login_form_token_matches(request: Request, submitted: str) -> bool:
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw or not submitted:
        return False
    try:
        expected = _serializer(request, _LOGIN_SALT).loads(raw, max_age=LOGIN_FORM_SECONDS)
    except BadSignature:
        return False
    return isinstance(expected, str) and hmac.compare_digest(expected, submitted)
