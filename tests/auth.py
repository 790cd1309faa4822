"""The admin key every test deployment and in-process app is given (API_ADMIN_KEY), its header, and an
in-process client that sends it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

ADMIN_KEY = "test-admin-key-not-for-production"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def admin_client(app: FastAPI) -> httpx.AsyncClient:
    """A client of `app` in this process (ASGI, no server) with the admin key; use it as `async with`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cratedigger.test", headers=ADMIN_HEADERS
    )
