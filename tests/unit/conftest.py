"""Shared by the CLI's unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.server import FakeHTTPServer


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHTTPServer]:
    """A loopback fake of the API that the CLI of this test talks to, with key `cd_test`."""
    with FakeHTTPServer() as server:
        monkeypatch.setenv("CRATEDIGGER_URL", server.url)
        monkeypatch.setenv("CRATEDIGGER_API_KEY", "cd_test")
        yield server
