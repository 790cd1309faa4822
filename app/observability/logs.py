"""One logging set-up for every process: api (uvicorn), worker (`taskiq worker --no-configure-logging`),
scheduler (`taskiq scheduler --no-configure-logging`) and migrate (alembic's env.py).

LOG_FORMAT=json writes one JSON object a line (`time`, `level`, `logger`, `message`, and `request_id`,
`task_id`, `task_name`, `attempt` when they apply, `exception` with the traceback); text writes the same
fields as `key=value` after the message. Every configured secret is replaced by `[redacted]` in whatever is
written, whichever library wrote it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import urlsplit

from app.config import LogFormat, Settings
from app.observability import log_context

REDACTED = "[redacted]"
SPOTIPY_OAUTH_LOGGER = "spotipy.oauth2"
MIN_SECRET_LENGTH = 3  # shorter values would blank out ordinary words
# Loggers too chatty at INFO: SQLAlchemy would log every statement, httpx every request (outbound requests are
# counted in /metrics instead).
QUIET_LOGGERS = ("sqlalchemy", "httpx", "httpcore", "aiosqlite", "asyncio")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

Redact = Callable[[str], str]


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, in the forms it could appear in (Spotify's client credentials also as
    the base64 of an HTTP Basic header)."""
    secrets = [
        s.get_secret_value() if s is not None else None
        for s in (
            settings.secret_key,
            settings.api_admin_key,
            settings.spotify_client_secret,
            settings.beatport_password,
            settings.beatport_api_token,
            settings.cratedigger_api_key,
        )
    ]
    secrets += [urlsplit(url).password for url in (settings.database_url, settings.redis_url) if url]
    if settings.spotify_client_id and settings.spotify_client_secret:
        pair = f"{settings.spotify_client_id}:{settings.spotify_client_secret.get_secret_value()}"
        secrets.append(base64.b64encode(pair.encode()).decode("ascii"))
    # Longest first, so a secret containing another is replaced whole.
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redactor(secrets: Iterable[str]) -> Redact:
    values = list(secrets)

    def redact(text: str) -> str:
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    return redact


def _context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields (`extra=`) win over the context's."""
    fields = dict(log_context.current())
    for name in log_context.FIELD_NAMES:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = value
    return {name: fields[name] for name in log_context.FIELD_NAMES if name in fields}


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redact) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        time = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {
            "time": time.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            **_context_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redact) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{name}={value}" for name, value in _context_fields(record).items())
        if fields:
            first, newline, rest = text.partition("\n")  # after the message, before a traceback
            text = f"{first} [{fields}]{newline}{rest}"
        return self.redact(text)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record comes (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def formatter_for(log_format: LogFormat, redact: Redact) -> logging.Formatter:
    return JsonFormatter(redact) if log_format == "json" else TextFormatter(redact)


def configure_logging(settings: Settings) -> None:
    """Route every logger through one stderr handler with the chosen format; safe to call again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        # Ours from an earlier call, or a plain one from `logging.basicConfig` (taskiq's, typer's CLI);
        # other handlers (a test runner's capture) stay.
        if type(handler) in (StderrHandler, logging.StreamHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter_for(settings.effective_log_format, redactor(secret_values(settings))))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in UVICORN_LOGGERS:  # uvicorn configured its own handlers before importing the app
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    quiet = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    # spotipy's DEBUG lines print token request bodies: the user's refresh token, the PKCE code and verifier are
    # no configured secret, so nothing would redact them. Never below INFO, whatever LOG_LEVEL says.
    logging.getLogger(SPOTIPY_OAUTH_LOGGER).setLevel(logging.INFO)
