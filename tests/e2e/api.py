"""The e2e tests' calls to the API under test: httpx's functions with the deployment's admin key."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import httpx

from tests.auth import ADMIN_HEADERS


def _headers(kwargs: dict[str, Any]) -> dict[str, str]:
    return {**ADMIN_HEADERS, **kwargs.pop("headers", {})}


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, headers=_headers(kwargs), **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, headers=_headers(kwargs), **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.delete(url, headers=_headers(kwargs), **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.put(url, headers=_headers(kwargs), **kwargs)


def stream(method: str, url: str, **kwargs: Any) -> AbstractContextManager[httpx.Response]:
    """A streamed response (read with `iter_lines()` inside the `with`), e.g. a task's event stream."""
    return httpx.stream(method, url, headers=_headers(kwargs), **kwargs)
