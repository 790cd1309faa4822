"""Keeps auth secrets (passwords, tokens, authorization codes, session cookies) out of logs and messages.

httpcore logs response headers at DEBUG (`Set-Cookie: sessionid=…`, `Location: …?code=…`): a filter on
those loggers scrubs them. Installed once, when the auth package is imported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_SECRET_PATTERNS = (
    (re.compile(r"((?:sessionid|csrftoken)=)[^;,'\"\s]+", re.I), r"\1[redacted]"),
    (re.compile(r"([?&]code=)[^&'\"\s]+"), r"\1[redacted]"),
    (re.compile(r"(\"(?:access|refresh)_token\"\s*:\s*\")[^\"]+"), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
)
_HTTP_LOGGERS = ("httpcore.http11", "httpcore.http2", "httpcore.connection", "httpx")


class RedactAuthSecrets(logging.Filter):
    """Scrub session cookies, authorization codes and tokens from a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = message
        for pattern, replacement in _SECRET_PATTERNS:
            scrubbed = pattern.sub(replacement, scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


def install_log_redaction() -> None:
    redact = RedactAuthSecrets()
    for name in _HTTP_LOGGERS:
        if not any(isinstance(f, RedactAuthSecrets) for f in logging.getLogger(name).filters):
            logging.getLogger(name).addFilter(redact)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every known secret value replaced (Beatport may echo what it was sent)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
