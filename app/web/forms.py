"""Turning the dashboard's forms into the API's request models, and the API's refusals into words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException


def filled(fields: Mapping[str, str], names: Iterable[str], *, numbers: Iterable[str] = ()) -> dict[str, Any]:
    """The named fields that were filled in; digit strings of `numbers` become integers (the API's models are
    strict about JSON types, and a form only has text)."""
    numeric = set(numbers)
    data: dict[str, Any] = {}
    for name in names:
        value = fields.get(name, "").strip()
        if value:
            data[name] = int(value) if name in numeric and value.isdigit() and len(value) < 10 else value
    return data


def _location(loc: Iterable[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    return ".".join(parts)


def error_lines(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for error in errors:
        where = _location(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def refusal(error: Exception) -> str:
    """What the API would answer, as one sentence for the page."""
    if isinstance(error, HTTPException | StarletteHTTPException):
        detail = error.detail
        return detail if isinstance(detail, str) else "; ".join(error_lines(detail))
    if isinstance(error, ValidationError | RequestValidationError):
        return "; ".join(error_lines(error.errors()))
    return str(error)
