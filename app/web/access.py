"""Who may use which dashboard route: each declares one `DashboardRule` (an AccessRule, so the access test
walks them with the API's), checked against the signed session instead of a Bearer key.

- No session (or a revoked key's) → 303 to the login page (htmx requests get `HX-Redirect`).
- Every POST: a foreign `Origin` or `Sec-Fetch-Site: cross-site` → 403; then the form's `csrf_token` must be
  the session's (403 otherwise); then the key's scope must cover the action (403 in words).
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Request

from app.api.access import AccessRule
from app.api.deps import ResourcesDep
from app.db.api_keys import Scope
from app.web.session import DashboardSession, current_session

LOGIN_PATH = "/ui/login"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 50


class LoginRequired(Exception):
    pass


class DashboardForbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def cross_site(request: Request) -> bool:
    """True for a request a page on another site made the browser send."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    # The host only: behind a TLS-terminating proxy the scheme the app sees differs from the browser's.
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", request.url.netloc)


async def form_fields(request: Request) -> dict[str, str]:
    """The POSTed form (URL-encoded; the body is cached by the request, so the route reads it again here)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").split(";")[0].strip() == FORM_TYPE:
        body = (await request.body()).decode("utf-8", "replace")
        fields = dict(parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
    request.state.form = fields
    return fields


async def refuse_cross_site_posts(request: Request) -> None:
    if request.method == "POST" and cross_site(request):
        raise DashboardForbidden("Refused: this form was sent from another site.")


class DashboardRule(AccessRule):
    """`scope` None: no session needed (the login page). `action` names what needs the scope, for the 403."""

    def __init__(self, scope: Scope | None, action: str = "this page") -> None:
        self.scope = scope
        self.action = action

    def describe(self) -> str:
        needed = (
            "no session" if self.scope is None else f"a session whose key has the `{self.scope.name}` scope"
        )
        return f"Dashboard: {needed}."

    async def __call__(self, request: Request, resources: ResourcesDep) -> DashboardSession | None:
        await refuse_cross_site_posts(request)
        if self.scope is None:
            return None
        session = await current_session(request, resources)
        if session is None:
            raise LoginRequired
        request.state.dashboard = session
        if request.method == "POST":
            submitted = (await form_fields(request)).get("csrf_token", "")
            if not hmac.compare_digest(submitted.encode(), session.csrf.encode()):
                raise DashboardForbidden(
                    "Refused: the form's security token is missing or out of date. Reload the page and try again."
                )
        if session.scope < self.scope:
            raise DashboardForbidden(
                f"Your key {session.name!r} has the {session.scope.name} scope; {self.action} needs "
                f"the {self.scope.name} scope. Sign in with another key to do it."
            )
        return session


PAGE = Depends(DashboardRule(Scope.read))
LOGIN = Depends(DashboardRule(None))
SignedIn = Annotated[DashboardSession, PAGE]


def acting(scope: Scope, action: str) -> object:
    """The rule of a form that changes something: `Annotated[DashboardSession, acting(Scope.write, "…")]`."""
    return Depends(DashboardRule(scope, action))
