"""The log formats, the fields they carry and the redaction of configured secrets."""

from __future__ import annotations

import base64
import json
import logging
import sys

from app.config import Settings
from app.observability import log_context
from app.observability.logs import JsonFormatter, TextFormatter, configure_logging, redactor, secret_values
from app.observability.request_ids import accepted_request_id


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom with hunter22-secret inside")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json_lines_carry_the_context_fields_and_the_exception() -> None:
    token = log_context.bind(request_id="r-1", task_id="t-1", task_name="collect_bp_tracks", attempt=2)
    try:
        line = JsonFormatter(redactor([])).format(_record("stored %d tracks", 5, exc=True))
    finally:
        log_context.unbind(token)
    entry = json.loads(line)
    assert (
        entry["message"] == "stored 5 tracks"
        and entry["level"] == "WARNING"
        and entry["logger"] == "app.test"
    )
    assert (entry["request_id"], entry["task_id"], entry["task_name"], entry["attempt"]) == (
        "r-1",
        "t-1",
        "collect_bp_tracks",
        2,
    )
    assert entry["time"].endswith("Z") and "RuntimeError: boom" in entry["exception"]
    assert "\n" not in line
    assert "request_id" not in json.loads(JsonFormatter(redactor([])).format(_record("outside")))


def test_text_lines_put_the_fields_after_the_message() -> None:
    token = log_context.bind(request_id="r-2")
    try:
        line = TextFormatter(redactor([])).format(_record("hello", exc=True))
    finally:
        log_context.unbind(token)
    first = line.splitlines()[0]
    assert first.endswith("app.test: hello [request_id=r-2]") and "Traceback" in line


def test_every_configured_secret_is_redacted_in_every_form() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://cd:pg-password-1@db/cd",
        redis_url="redis://:redis-password-1@redis:6379/0",
        secret_key="the-secret-key",
        api_admin_key="cd_admin_key_value",
        spotify_client_id="spotify-id",
        spotify_client_secret="spotify-secret-1",
        beatport_username="me",
        beatport_password="hunter22-secret",
    )
    secrets = secret_values(settings)
    basic = base64.b64encode(b"spotify-id:spotify-secret-1").decode()
    assert {"pg-password-1", "redis-password-1", "the-secret-key", "cd_admin_key_value", basic} <= set(
        secrets
    )
    redact = redactor(secrets)
    text = f"url redis://:redis-password-1@redis key=cd_admin_key_value Basic {basic} pw hunter22-secret"
    assert redact(text) == "url redis://:[redacted]@redis key=[redacted] Basic [redacted] pw [redacted]"
    json_line = JsonFormatter(redact).format(_record("login with %s", "hunter22-secret", exc=True))
    text_line = TextFormatter(redact).format(_record("login with %s", "hunter22-secret", exc=True))
    for line in (json_line, text_line):
        assert "hunter22-secret" not in line and "[redacted]" in line


def test_log_format_defaults_to_json_when_deployed_and_text_when_embedded() -> None:
    assert Settings(_env_file=None).effective_log_format == "text"
    assert Settings(_env_file=None, redis_url="redis://r:6379/0").effective_log_format == "json"
    assert Settings(_env_file=None, redis_url="redis://r", log_format="text").effective_log_format == "text"
    assert Settings(_env_file=None, log_format="").log_format is None  # LOG_FORMAT= in .env: the default


def test_request_ids_from_callers_are_kept_only_when_sane() -> None:
    assert accepted_request_id("01HF3-abc.def:9") == "01HF3-abc.def:9"
    for unsafe in ("with space", 'quote"', "new\nline", "x" * 129, "", None):
        made = accepted_request_id(unsafe)
        assert made != unsafe and len(made) == 32


def test_spotipys_token_requests_are_never_logged_even_at_debug() -> None:
    """spotipy logs token request bodies at DEBUG: a user's refresh token and PKCE code, not configured secrets."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        configure_logging(Settings(_env_file=None, log_level="DEBUG"))
        assert root.isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("spotipy.oauth2").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("spotipy.oauth2").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
