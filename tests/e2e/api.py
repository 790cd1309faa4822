"""The e2e tests' calls to the API under test: httpx's functions with the deployment's admin key."""

from __future__ import annotations

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
