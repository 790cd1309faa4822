"""Beatport API tokens: the record we keep, and reading a pasted token or the token endpoint's answer.

A pasted token (`BEATPORT_API_TOKEN`) is the raw access token ("Bearer …" accepted) or the JSON the browser
receives from `auth/o/token/`. Its expiry comes from the JWT's `exp` claim when there is one; otherwise it
is used until Beatport answers 401. Token values never appear in reprs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

from app.errors import PermanentSourceError

# The public client id of Beatport's API-docs page (app:docs); the same value in beets-beatport4,
# evgenygurin/beatport-mcp and fomoplayer (2026-06/07).
DOCS_CLIENT_ID = "0GIvkCltVIuPkkwSJHp6NDb3s0potTjLBQr388Dd"
CREDENTIALS_HINT = "set BEATPORT_USERNAME and BEATPORT_PASSWORD, or paste a fresh BEATPORT_API_TOKEN"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token. `expires_at` is epoch seconds; None = unknown (used until Beatport answers 401)."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    expires_at: float | None = None
    client_id: str = DOCS_CLIENT_ID
    source: str = "login"  # login | refresh | pasted: for logs and statuses, never the value

    def valid(self, *, margin: float = 0.0, now: float | None = None) -> bool:
        if self.expires_at is None:
            return True
        return self.expires_at - margin > (time.time() if now is None else now)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> ApiToken | None:
        try:
            data = json.loads(text)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=data.get("refresh_token") or None,
                expires_at=float(data["expires_at"]) if data.get("expires_at") is not None else None,
                client_id=str(data.get("client_id") or DOCS_CLIENT_ID),
                source=str(data.get("source") or "login"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable record is treated as no token (a new one is obtained)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (unverified: only to read `exp`/`client_id`); {} when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _pasted_fields(text: str) -> tuple[Any, Any, Any]:
    """(access, refresh, expires_in) from a pasted value: raw, "Bearer …", or the token endpoint's JSON."""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise PermanentSourceError(
                "BEATPORT_API_TOKEN looks like JSON but could not be decoded: paste the whole JSON answer of "
                "/v4/auth/o/token/ or just the access_token value"
            ) from None
        if not isinstance(data, dict):
            return None, None, None
        return data.get("access_token"), data.get("refresh_token"), data.get("expires_in")
    if text.lower().startswith("bearer "):
        return text[7:].strip(), None, None
    return text, None, None


def parse_pasted_token(text: str, *, now: float | None = None) -> ApiToken:
    """BEATPORT_API_TOKEN: a raw access token ("Bearer …" accepted) or the token endpoint's JSON."""
    access, refresh, expires_in = _pasted_fields(text.strip())
    if not isinstance(access, str) or not access:
        raise PermanentSourceError("BEATPORT_API_TOKEN has no access_token: " + CREDENTIALS_HINT)
    claims = _jwt_claims(access)
    expires_at = _number(claims.get("exp"))
    if expires_at is None and _number(expires_in) is not None and "iat" in claims:
        expires_at = float(claims["iat"]) + float(expires_in)
    client_id = claims.get("client_id")
    return ApiToken(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        client_id=client_id if isinstance(client_id, str) and client_id else DOCS_CLIENT_ID,
        source="pasted",
    )


def token_from_answer(data: Any, *, client_id: str, source: str, now: float | None = None) -> ApiToken:
    """The token endpoint's JSON answer (`access_token`, `refresh_token`, `expires_in`) as an ApiToken."""
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise PermanentSourceError(
            "Beatport's token endpoint answered without an access_token (the API changed?)"
        )
    expires_in = _number(data.get("expires_in"))
    issued_at = time.time() if now is None else now
    refresh = data.get("refresh_token")
    return ApiToken(
        access_token=data["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=issued_at + expires_in if expires_in is not None else None,
        client_id=client_id,
        source=source,
    )
