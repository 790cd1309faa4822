"""A small programmable HTTP server on 127.0.0.1 for tests and benchmarks.

Real sockets, real HTTP: the project's own clients (httpx, spotipy/requests) run unchanged against it.
Routes are programmed with responses; a route given several responses plays them in order and then keeps
repeating the last one, which is how "fails twice, then succeeds" is written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow site)
    hold: threading.Event | None = None  # answer only once this is set (a response "in flight")

    @classmethod
    def json(cls, data: Any, status: int = 200, **kwargs: Any) -> FakeResponse:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(status=status, body=json.dumps(data).encode(), headers=headers, **kwargs)

    @classmethod
    def html(cls, text: str | bytes, status: int = 200, **kwargs: Any) -> FakeResponse:
        body = text.encode() if isinstance(text, str) else text
        headers = {"Content-Type": "text/html; charset=utf-8", **kwargs.pop("headers", {})}
        return cls(status=status, body=body, headers=headers, **kwargs)


Handler = Callable[[FakeRequest], FakeResponse]


class FakeHTTPServer:
    """Serve programmed routes on an ephemeral loopback port in a background thread."""

    def __init__(self, fallback: Handler | None = None) -> None:
        self._routes: dict[tuple[str, str], list[FakeResponse | Handler]] = {}
        self._fallback = fallback
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- programming -------------------------------------------------------------------------------------
    def add(self, method: str, path: str, *responses: FakeResponse | Handler) -> None:
        """Program `method path` (path without query string) with responses played in order."""
        with self._lock:
            self._routes[(method.upper(), path)] = list(responses)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def requests_to(self, path: str, method: str = "GET") -> list[FakeRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path and r.method == method.upper()]

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHTTPServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever and would hang if it never ran
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------------------
    def _respond(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path))
            planned = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
        if planned is None:
            if self._fallback is not None:
                return self._fallback(request)
            return FakeResponse.json({"error": f"no fake route for {request.method} {request.path}"}, 404)
        return planned(request) if callable(planned) else planned

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle on, the body waits for the client's delayed
            # ACK (~40 ms per response on Linux loopback).
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = FakeRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = owner._respond(request)
                if response.hold is not None:
                    response.hold.wait(timeout=120)
                if response.delay:
                    time.sleep(response.delay)
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout or killed worker): that is what some tests provoke

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler
