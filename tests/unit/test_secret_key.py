"""Embedded mode makes its own SECRET_KEY file once (0600) and reuses it; stored tokens are sealed with it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.cli import ensure_secret_key
from app.sealed import SealBroken, SecretBox


def test_serve_makes_a_private_key_file_once_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    made = ensure_secret_key(tmp_path / "data")
    assert made == tmp_path / "data" / "secret-key"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    first = made.read_text()
    monkeypatch.delenv("SECRET_KEY")
    assert ensure_secret_key(tmp_path / "data") == made and made.read_text() == first  # not regenerated


def test_a_set_secret_key_or_a_redis_deployment_makes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-0123456789")
    assert ensure_secret_key(tmp_path) is None
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert ensure_secret_key(tmp_path) is None and not (tmp_path / "secret-key").exists()


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    box = SecretBox("a-secret-key-of-some-length")
    sealed = box.seal('{"access_token": "abc"}')
    assert b"abc" not in sealed
    assert box.open(sealed) == '{"access_token": "abc"}'
    with pytest.raises(SealBroken):
        SecretBox("another-secret-key-entirely").open(sealed)
    with pytest.raises(ValueError, match="at least 16"):
        SecretBox("short")
