"""Jinja2 templates of the dashboard (autoescaped), with the few filters the pages share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=WEB_DIR / "templates")

# The pages load only their own files; nothing may frame them (clickjacking) or post them elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()


def duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "—"
    seconds = milliseconds // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def credits(artists: Any) -> str:
    return ", ".join(artist.name for artist in artists) or "—"


templates.env.filters.update(when=when, duration=duration, credits=credits)


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "dashboard", None)
    response = templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf_token": session.csrf if session else "", **context},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response
