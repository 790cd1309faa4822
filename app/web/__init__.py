"""The dashboard (contract, second part: "Dashboard and CLI"): server-rendered pages at `/` and `/ui/…` that
call the same services, repositories and status stores as the API, behind a session signed with SECRET_KEY."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web import (
    admin_pages,
    auth_pages,
    chart_pages,
    collect_pages,
    review_pages,
    spotify_pages,
    task_list_page,
    task_pages,
    track_pages,
    watchlist_pages,
)
from app.web.access import LOGIN_PATH, DashboardForbidden, LoginRequired
from app.web.forms import refusal
from app.web.session import install_secret
from app.web.templating import STATIC_DIR, page

PAGE_MODULES = (
    auth_pages,
    collect_pages,
    task_list_page,
    task_pages,
    track_pages,
    review_pages,
    chart_pages,
    admin_pages,
    watchlist_pages,
    spotify_pages,
)


def install_dashboard(app: FastAPI) -> None:
    install_secret(app)
    for module in PAGE_MODULES:
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def sign_in_first(request: Request, error: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = request.headers.get("hx-current-url", "") or "/"
        location = f"{LOGIN_PATH}?{_next_query(target)}"
        if request.headers.get("hx-request"):  # htmx follows this header, not a 303 into the swapped part
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    @app.exception_handler(DashboardForbidden)
    async def forbidden(request: Request, error: DashboardForbidden) -> Response:
        return page(request, "error.html", status_code=403, title="Not allowed", message=error.message)

    for error_class in (RequestValidationError, StarletteHTTPException):
        _pages_answer_in_html(app, error_class)


def _pages_answer_in_html(app: FastAPI, error_class: type[Exception]) -> None:
    """The API's handler answers JSON; under /ui/ the same refusal is a page (install after the API's)."""
    api_handler = app.exception_handlers[error_class]

    async def handler(request: Request, error: Exception) -> Response:
        if not request.url.path.startswith("/ui/") or request.url.path.startswith("/ui/static/"):
            answer: Response = await api_handler(request, error)  # type: ignore[misc]
            return answer
        status_code = getattr(error, "status_code", 422)
        title = "Not found" if status_code == 404 else "Cannot show this"
        message = "There is no such page." if status_code == 404 else refusal(error)
        return page(request, "error.html", status_code=status_code, title=title, message=message)

    app.add_exception_handler(error_class, handler)


def _next_query(target: str) -> str:
    parts = urlsplit(target)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return urlencode({"next": path or "/"})
