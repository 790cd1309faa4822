"""`X-Request-ID`: taken from the caller when it is a sane token, made up otherwise, echoed in the answer and
written on every log line of the request (and of the tasks it enqueues: `app.runtime.lifecycle`)."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import log_context

HEADER = "X-Request-ID"
# A proxy's id (UUID, hex, ULID, `abc-123.4`) is kept; anything else (spaces, quotes, newlines, very long) is
# replaced, so a caller cannot write into the logs.
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def accepted_request_id(value: str | None) -> str:
    if value is not None and ACCEPTED.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(HEADER.lower().encode("latin-1"))
        request_id = accepted_request_id(sent.decode("latin-1") if sent is not None else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = log_context.bind(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_context.unbind(token)
