"""Access control (contract, second part: "Access"), generated from the app's own routes and OpenAPI schema: a
route without a scope decision, or one whose decision differs from the contract, fails here."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.api.access import AccessRule, access_rules, api_routes
from app.db import api_keys, dead_letters
from app.db.api_keys import Scope
from app.main import create_app
from app.services.resources import Resources
from app.web.access import DashboardRule
from tests.auth import ADMIN_KEY

# The contract's decisions, written out independently of the code: public routes, admin routes; every other
# GET needs read and everything else write.
# The Spotify callback is reached by the user's browser without a key: the one-time state of an admin's
# /auth/spotify/login is its credential (app/api/spotify_auth_routes.py). A feed URL carries its feed token.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/auth/spotify/callback"),
    ("GET", "/feeds/watchlists/{watchlist_id}.atom"),
}
ADMIN = {
    ("POST", "/schedules"),
    ("DELETE", "/schedules/{schedule_id}"),
    ("POST", "/tasks/dead-letters/{dead_letter_id}/retry"),
    ("GET", "/auth/spotify/login"),
    ("DELETE", "/auth/spotify"),
}


# The dashboard's routes (outside the OpenAPI schema) are signed-in pages: the login page is public, pages and
# logout need a session of any scope, forms that change things need write, and the admin ones admin.
DASHBOARD_PUBLIC = {("GET", "/ui/login"), ("POST", "/ui/login")}
DASHBOARD_ADMIN = {
    ("POST", "/ui/schedules"),
    ("POST", "/ui/schedules/{schedule_id}/delete"),
    ("POST", "/ui/dead-letters/{dead_letter_id}/retry"),
    ("POST", "/ui/spotify/connect"),
    ("POST", "/ui/spotify/disconnect"),
}
DASHBOARD_READ_FORMS = {("POST", "/ui/logout")}


def dashboard_scope(method: str, path: str) -> Scope | None:
    if (method, path) in DASHBOARD_PUBLIC:
        return None
    if (method, path) in DASHBOARD_ADMIN:
        return Scope.admin
    return Scope.read if method == "GET" or (method, path) in DASHBOARD_READ_FORMS else Scope.write


def contract_scope(method: str, path: str) -> Scope | None:
    if (method, path) in PUBLIC:
        return None
    if (method, path) in ADMIN:
        return Scope.admin
    return Scope.read if method == "GET" else Scope.write


def operations(app: FastAPI) -> list[tuple[str, str]]:
    schema = app.openapi()
    return sorted((method.upper(), path) for path, item in schema["paths"].items() for method in item)


def concrete(path: str) -> str:
    """The path with its parameters filled in with values of the right shape."""
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0).endswith("_id}") else "x", path).replace(
        "/tasks/x", "/tasks/0123456789abcdef0123456789abcdef"
    )


@pytest.fixture
async def keys(embedded_app: FastAPI) -> dict[Scope, str]:
    resources: Resources = embedded_app.state.resources
    made = {}
    async with resources.sessions() as session:
        for scope in Scope:
            made[scope] = (await api_keys.create_key(session, name=f"test-{scope.name}", scope=scope))[1]
    return made


@pytest.fixture
async def anonymous(embedded_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=embedded_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cratedigger.test") as http:
        yield http


async def call(http: httpx.AsyncClient, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await http.request(method, concrete(path), headers=headers)


def test_every_route_makes_exactly_one_scope_decision_and_it_is_the_contracts(embedded_app: FastAPI) -> None:
    routes = api_routes(embedded_app)
    assert len(routes) >= 13
    for route in routes:
        rules = access_rules(route)
        assert len(rules) == 1, f"{route.methods} {route.path} declares {len(rules)} access rules, not one"
        # API routes take keys; the dashboard's (not in the schema) take its session, never the other way round
        assert isinstance(rules[0], DashboardRule) == (not route.include_in_schema), route.path
        scope_of = contract_scope if route.include_in_schema else dashboard_scope
        for method in route.methods or ():
            assert rules[0].scope == scope_of(method, route.path), f"{method} {route.path}"
    assert all(isinstance(rule, AccessRule) for route in routes for rule in access_rules(route))


async def test_no_key_is_401_with_a_bearer_challenge_except_on_public_endpoints(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    checked = 0
    for method, path in operations(embedded_app):
        response = await call(anonymous, method, path, None)
        if contract_scope(method, path) is None:
            assert response.status_code not in (401, 403), f"{method} {path}"
        else:
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "Authorization: Bearer" in response.json()["detail"]
            checked += 1
    assert checked >= 10


async def test_each_scope_is_refused_above_itself_and_let_in_at_or_below(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient, keys: dict[Scope, str]
) -> None:
    for method, path in operations(embedded_app):
        needed = contract_scope(method, path)
        for scope, key in keys.items():
            response = await call(anonymous, method, path, key)
            if needed is not None and scope < needed:
                assert response.status_code == 403, f"{scope.name} key, {method} {path}: {response.text}"
                assert needed.name in response.json()["detail"]
            else:
                assert response.status_code not in (401, 403), f"{scope.name} key, {method} {path}"


async def test_unknown_revoked_and_non_bearer_credentials_are_401(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient, keys: dict[Scope, str]
) -> None:
    unknown = await call(anonymous, "GET", "/tracks", "cd_not-a-key")
    assert unknown.status_code == 401 and "invalid_token" in unknown.headers["WWW-Authenticate"]
    basic = await anonymous.get("/tracks", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401 and "not a Bearer key" in basic.json()["detail"]
    assert (await call(anonymous, "GET", "/tracks", keys[Scope.read])).status_code == 200
    async with embedded_app.state.resources.sessions() as session:
        assert await api_keys.revoke_key(session, name="test-read")
    assert (await call(anonymous, "GET", "/tracks", keys[Scope.read])).status_code == 401  # at once
    # The environment's admin key works without a row.
    assert (await call(anonymous, "POST", "/tasks/dead-letters/1/retry", ADMIN_KEY)).status_code == 404


async def test_a_key_records_when_it_was_last_used(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    sessions = embedded_app.state.resources.sessions
    async with sessions() as session:
        _, secret = await api_keys.create_key(session, name="used", scope=Scope.read)
    before = dt.datetime.now(dt.UTC)
    assert (await call(anonymous, "GET", "/tracks", secret)).status_code == 200
    async with sessions() as session:
        (used,) = [k for k in await api_keys.list_keys(session) if k.name == "used"]
    assert used.last_used_at is not None and used.last_used_at >= before - dt.timedelta(seconds=1)
    assert used.key_hash != secret and secret not in used.key_hash and used.key_prefix == secret[:10]


async def test_anonymous_health_shows_only_the_overall_status(
    anonymous: httpx.AsyncClient, keys: dict[Scope, str]
) -> None:
    response = await anonymous.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    detailed = await call(anonymous, "GET", "/health", keys[Scope.read])
    assert detailed.json()["status"] == "ok" and set(detailed.json()["checks"]) == {
        "database",
        "redis",
        "workers",
    }


async def test_metrics_need_a_key_only_when_configured(embedded_app: FastAPI, keys: dict[Scope, str]) -> None:
    settings = embedded_app.state.settings.model_copy(update={"metrics_require_key": True})
    locked = create_app(settings)
    async with (
        locked.router.lifespan_context(locked),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=locked), base_url="http://t") as http,
    ):
        assert (await http.get("/metrics")).status_code == 401
        keyed = await http.get("/metrics", headers={"Authorization": f"Bearer {keys[Scope.read]}"})
        assert keyed.status_code == 200 and "cratedigger_tracks " in keyed.text


async def test_dead_letter_tracebacks_are_for_admin_keys_only(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient, keys: dict[Scope, str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with embedded_app.state.resources.sessions.begin() as session:
        await dead_letters.record(
            session,
            task_id="0" * 32,
            task_name="collect_bp_tracks",
            kwargs={"target": "/genre/x/1/top-100"},
            error_type="ValueError",
            error_message="broken",
            traceback='Traceback (most recent call last):\n  File "/srv/app/secret_path.py"',
            attempts=5,
            first_failed_at=now,
            last_failed_at=now,
        )
    seen: dict[Scope, Any] = {}
    for scope in (Scope.read, Scope.write, Scope.admin):
        response = await call(anonymous, "GET", "/tasks/dead-letters", keys[scope])
        (letter,) = response.json()["items"]
        seen[scope] = letter["traceback"]
        assert letter["error_message"] == "broken"
    assert seen[Scope.read] is None and seen[Scope.write] is None
    assert "secret_path.py" in seen[Scope.admin]


async def test_a_cross_site_form_post_cannot_act(anonymous: httpx.AsyncClient) -> None:
    """What a browser sends for a form on another site: no Authorization header, maybe cookies, an Origin."""
    form = {
        "Origin": "https://evil.example",
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "session=whatever-the-browser-holds",
    }
    for path in ("/tasks/dead-letters/1/retry", "/collect/beatport/collect", "/schedules"):
        response = await anonymous.post(path, headers=form, content=b"url=/genre/a/1")
        assert response.status_code == 401, path
    deleted = await anonymous.delete("/tasks/0123456789abcdef0123456789abcdef", headers=form)
    assert deleted.status_code == 401


async def test_cors_is_off_by_default_and_explicit_when_set(
    embedded_app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    preflight = {
        "Origin": "https://dash.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    refused = await anonymous.options("/collect/beatport/collect", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers
    settings = embedded_app.state.settings.model_copy(update={"cors_allow_origins": ["https://dash.example"]})
    allowing = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=allowing), base_url="http://t") as http:
        allowed = await http.options("/collect/beatport/collect", headers=preflight)
        other = await http.options(
            "/collect/beatport/collect", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-origin" not in other.headers


def test_the_schema_documents_the_bearer_scheme_and_each_operations_answers(embedded_app: FastAPI) -> None:
    schema = embedded_app.openapi()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for method, path in operations(embedded_app):
        operation = schema["paths"][path][method.lower()]
        needed = contract_scope(method, path)
        assert "401" in operation["responses"], f"{method} {path}"
        assert ("403" in operation["responses"]) == (needed is not None and needed > Scope.read), path
        assert ({} in operation["security"]) == (needed is None), f"{method} {path}"
        assert "API key" in operation["description"], f"{method} {path}"
