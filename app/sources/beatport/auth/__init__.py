"""Beatport API v4 authentication: a bearer token from a user's own account, shared by every worker.

Split by job: `tokens` (the token record, pasted tokens), `stores` (Redis / memory, with the renewal lock),
`login` (login → authorize → token, and refresh), `manager` (`BeatportAuth`: hands out a valid token,
renewing it once for all workers), `redaction` (keeps secrets out of logs). The names below are the
package's public surface.
"""

from app.sources.beatport.auth.login import (
    BROWSER_USER_AGENT,
    AuthClientFactory,
    LoginFlow,
    browser_client_factory,
)
from app.sources.beatport.auth.manager import BeatportAuth
from app.sources.beatport.auth.redaction import RedactAuthSecrets, install_log_redaction
from app.sources.beatport.auth.stores import (
    MemoryTokenStore,
    RedisTokenStore,
    TokenStore,
    token_store_for,
    token_store_key,
)
from app.sources.beatport.auth.tokens import DOCS_CLIENT_ID, ApiToken, parse_pasted_token

install_log_redaction()

__all__ = [
    "BROWSER_USER_AGENT",
    "DOCS_CLIENT_ID",
    "ApiToken",
    "AuthClientFactory",
    "BeatportAuth",
    "LoginFlow",
    "MemoryTokenStore",
    "RedactAuthSecrets",
    "RedisTokenStore",
    "TokenStore",
    "browser_client_factory",
    "parse_pasted_token",
    "token_store_for",
    "token_store_key",
]
