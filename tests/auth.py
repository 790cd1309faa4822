"""The admin key every test deployment and in-process app is given (API_ADMIN_KEY), its header, and an
in-process client that sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

ADMIN_KEY = "test-admin-key-not-for-production"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


@asynccontextmanager
async def admin_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the ASGI `app`, sending the admin key."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cratedigger.test", headers=ADMIN_HEADERS
    ) as http:
        yield http
