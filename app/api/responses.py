"""The error shapes every endpoint can answer with, documented once for the OpenAPI schema.

Every error body has FastAPI's `detail`: a sentence for a person, or (input that does not fit the schema) a
list of field errors. `error_responses(404, 409)` documents an endpoint's own codes; the app documents 400,
413, 422 and 503 for every endpoint.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class InvalidInput(BaseModel):
    detail: str | list[FieldError]


_DESCRIPTIONS = {
    400: "The body could not be parsed (not JSON, or not UTF-8)",
    401: "No or an unknown API key",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The request body is larger than MAX_REQUEST_BYTES",
    422: "Input that does not fit: a list of field errors, or a sentence",
    503: "A dependency (database, Redis, Spotify settings) is unavailable; see Retry-After where given",
}

RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "string"}}
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": InvalidInput if code == 422 else Problem,
            "description": _DESCRIPTIONS[code],
        }
        if code == 503:
            entry["headers"] = RETRY_AFTER_HEADER
        documented[code] = entry
    return documented


EVERY_ENDPOINT = error_responses(400, 413, 422, 503)


def streaming_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`error_responses` for an endpoint whose success is not JSON (an event stream): FastAPI would document a
    `model` under the endpoint's own media type, so the JSON error bodies are spelled out. Covers the app's
    own codes too, which it replaces for that endpoint."""
    documented = error_responses(*sorted({*codes, 400, 413, 422, 503}))
    for entry in documented.values():
        model = entry.pop("model")
        entry["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        }
    return documented
