"""Secrets at rest: stored user tokens are sealed with a key derived from SECRET_KEY (Fernet: AES-128-CBC with
an HMAC-SHA256, so a tampered or foreign record is refused, not misread)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr


class SealBroken(Exception):
    """A record sealed with another SECRET_KEY, tampered with, or stored in clear before sealing."""


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise ValueError(
                "SECRET_KEY must be at least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        # Fernet wants 32 url-safe base64 bytes; any SECRET_KEY text becomes one through SHA-256.
        derived = hashlib.sha256(b"cratedigger:stored-tokens:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def open(self, sealed: bytes | str) -> str:
        try:
            return self._fernet.decrypt(sealed if isinstance(sealed, bytes) else sealed.encode()).decode()
        except InvalidToken as error:
            raise SealBroken("a stored secret could not be opened with this SECRET_KEY") from error


def box_for(secret_key: SecretStr | None) -> SecretBox | None:
    """The box for SECRET_KEY, or None when it is not set (then nothing can be sealed)."""
    return SecretBox(secret_key.get_secret_value()) if secret_key is not None else None
