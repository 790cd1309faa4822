"""Signing in with an API key, and out. The key is checked as the API checks it (`caller_for_key`); the session
keeps its name, scope and fingerprint, never the key."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.api.access import ADMIN_KEY_NAME, caller_for_key
from app.api.deps import ResourcesDep
from app.db import api_keys
from app.web.access import LOGIN, LOGIN_PATH, PAGE, form_fields
from app.web.session import end_session, login_form_token_matches, set_login_form_token, start_session
from app.web.templating import page

router = APIRouter(include_in_schema=False)

HOME = "/ui/tasks"
WRONG_KEY = "That key is unknown or has been revoked."


def safe_next(target: str | None) -> str:
    """Only paths of this site (never `//host` or a URL), so the login page cannot redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _login_page(
    request: Request, *, target: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request, "login.html", status_code=status_code, target=target, error=error, login_token=token
    )
    set_login_form_token(request, response, token)
    return response


@router.get("/", dependencies=[PAGE])
async def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get(LOGIN_PATH, dependencies=[LOGIN])
async def login_form(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return _login_page(request, target=safe_next(next_path))


@router.post(LOGIN_PATH, dependencies=[LOGIN])
async def login(request: Request, resources: ResourcesDep) -> Response:
    fields = await form_fields(request)
    target = safe_next(fields.get("next"))
    if not login_form_token_matches(request, fields.get("login_token", "")):
        return _login_page(
            request, target=target, status_code=403, error="The sign-in form expired; please try again."
        )
    secret = fields.get("key", "").strip()
    caller = await caller_for_key(resources, secret) if 0 < len(secret) <= 200 else None
    if caller is None:
        return _login_page(request, target=target, status_code=403, error=WRONG_KEY)
    admin_key = resources.settings.api_admin_key
    stored = admin_key.get_secret_value() if caller.name == ADMIN_KEY_NAME and admin_key else secret
    response = RedirectResponse(target, status_code=303)
    start_session(request, response, name=caller.name, scope=caller.scope, key_hash=api_keys.hash_key(stored))
    return response


@router.post("/ui/logout", dependencies=[PAGE])
async def logout() -> RedirectResponse:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    end_session(response)
    return response
