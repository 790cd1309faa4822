"""Who may call what (contract, second part: "Access").

Every route declares exactly one access rule (`READ`, `WRITE`, `ADMIN`, `PUBLIC` or `METRICS`), in its
`dependencies` or as a parameter when it needs the caller; tests/integration/test_access.py fails for a route
without one. Keys travel only in `Authorization: Bearer`, never in cookies, so a page on another site cannot
make a browser send a request that passes (no CSRF), bodyless POSTs included.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import ResourcesDep, SettingsDep
from app.api.key_rate_limit import KeyRateLimit
from app.db import api_keys
from app.db.api_keys import Scope
from app.services.resources import Resources

ADMIN_KEY_NAME = "API_ADMIN_KEY"
HOW_TO_GET_A_KEY = (
    "send `Authorization: Bearer <key>`: `cratedigger keys create --name NAME --scope read|write|admin` makes "
    "one, and `cratedigger serve` wrote an admin key to data/api-key on its first start"
)

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`cratedigger keys create`, data/api-key, or API_ADMIN_KEY). Scopes: read (every "
    "GET), write (collect, enrich, cancel), admin (schedules, dead-letter retries).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    name: str  # the key's name; API_ADMIN_KEY for the environment's key
    scope: Scope


def _unauthorized(detail: str, *, invalid_token: bool = False) -> HTTPException:
    challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


async def identify(request: Request, credentials: Credentials, resources: ResourcesDep) -> Caller | None:
    """The caller the Authorization header names; None without a header; 401 for an unknown or revoked key."""
    if credentials is None:
        if "authorization" in request.headers:
            raise _unauthorized(f"The Authorization header is not a Bearer key: {HOW_TO_GET_A_KEY}.")
        return None
    found = await caller_for_key(resources, credentials.credentials)
    if found is None:
        raise _unauthorized("Unknown or revoked API key.", invalid_token=True)
    limit: KeyRateLimit | None = getattr(request.app.state, "key_rate_limit", None)
    if limit is not None:
        await limit.check(found.name)
    return found


async def caller_for_key(resources: Resources, secret: str) -> Caller | None:
    """Whose key this is: API_ADMIN_KEY, a stored key, or None (unknown or revoked). The dashboard's login
    checks keys here too."""
    admin_key = resources.settings.api_admin_key
    if admin_key is not None and hmac.compare_digest(secret.encode(), admin_key.get_secret_value().encode()):
        return Caller(ADMIN_KEY_NAME, Scope.admin)
    async with resources.sessions() as session:
        found = await api_keys.scope_of(session, secret)
    return None if found is None else Caller(*found)


async def current_key(resources: Resources, name: str) -> tuple[str, Scope] | None:
    """The stored hash and scope of the key named so, as it is now (None: revoked or never made). Whatever was
    started with a key (a dashboard session, a Spotify connection) is checked against this when it resumes."""
    if name == ADMIN_KEY_NAME:
        admin_key = resources.settings.api_admin_key
        if admin_key is None:
            return None
        return api_keys.hash_key(admin_key.get_secret_value()), Scope.admin
    async with resources.sessions() as session:
        return await api_keys.key_hash_of(session, name=name)


CallerOrNone = Annotated[Caller | None, Depends(identify)]


class AccessRule:
    """A route's access decision. `scope` None: anonymous callers are let in (a key, if sent, is still checked)."""

    scope: Scope | None = None

    def describe(self) -> str:
        return (
            "No API key needed."
            if self.scope is None
            else f"Needs an API key with the `{self.scope.name}` scope."
        )


class RequireScope(AccessRule):
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, caller: CallerOrNone) -> Caller:
        assert self.scope is not None
        if caller is None:
            raise _unauthorized(f"This endpoint needs an API key: {HOW_TO_GET_A_KEY}.")
        if caller.scope < self.scope:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"The key {caller.name!r} has the {caller.scope.name} scope; this needs {self.scope.name}.",
            )
        return caller


class Public(AccessRule):
    async def __call__(self, caller: CallerOrNone) -> Caller | None:
        return caller


class MetricsRule(AccessRule):
    """Public unless METRICS_REQUIRE_KEY=true, then any valid key."""

    def describe(self) -> str:
        return "No API key needed unless METRICS_REQUIRE_KEY=true (then any key)."

    async def __call__(self, caller: CallerOrNone, settings: SettingsDep) -> Caller | None:
        if caller is None and settings.metrics_require_key:
            raise _unauthorized(f"METRICS_REQUIRE_KEY is set: {HOW_TO_GET_A_KEY}.")
        return caller


READ = Depends(RequireScope(Scope.read))
WRITE = Depends(RequireScope(Scope.write))
ADMIN = Depends(RequireScope(Scope.admin))
PUBLIC = Depends(Public())
METRICS = Depends(MetricsRule())
ReadCaller = Annotated[Caller, READ]
WriteCaller = Annotated[Caller, WRITE]
AdminCaller = Annotated[Caller, ADMIN]
PublicCaller = Annotated[Caller | None, PUBLIC]


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route, those of included routers too (FastAPI keeps those behind the router that holds them)."""
    found = (context.original_route for context in iter_route_contexts(app.routes))
    return [route for route in found if isinstance(route, APIRoute)]


def access_rules(route: APIRoute) -> list[AccessRule]:
    """The access rules a route declares (exactly one when the route is right)."""
    rules: list[AccessRule] = []
    for dependency in route.dependant.dependencies:
        call: object = dependency.call
        if isinstance(call, AccessRule):
            rules.append(call)
    return rules


def document_access(app: FastAPI) -> None:
    """Put each route's rule in the OpenAPI schema: the Bearer scheme (optional on public routes) with 401,
    403 where a scope can be missing, and the rule in words in the description that /docs shows."""
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build_schema()
        for route in api_routes(app):
            for rule in access_rules(route)[:1] if route.include_in_schema else []:
                for method in route.methods or ():
                    _document(schema["paths"][route.path_format][method.lower()], rule)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(operation: dict[str, Any], rule: AccessRule) -> None:
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    challenge = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
    responses = operation["responses"]
    responses.setdefault(
        "401",
        {"description": "No API key, or an unknown or revoked one", "headers": challenge, "content": problem},
    )
    if rule.scope is not None and rule.scope > Scope.read:
        responses.setdefault("403", {"description": "The key's scope is too small", "content": problem})
    responses.setdefault(
        "429",
        {
            "description": "The key made more than API_KEY_REQUESTS_PER_MINUTE requests this minute",
            "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
            "content": problem,
        },
    )
    if rule.scope is None:
        operation["security"] = [{}, *operation.get("security", [])]  # a key is optional here
    operation["description"] = f"{operation.get('description', '')}\n\n{rule.describe()}".strip()
