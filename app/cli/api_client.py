"""The CLI's HTTP client for the Cratedigger API: the URL and key from settings, API errors as `ApiError`
(the API's own message), and a task's status changes from its event stream (or by polling without one)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings

KEY_FILE = Path("data") / "api-key"
FINAL_STATES = frozenset({"success", "failure", "cancelled"})
POLL_SECONDS = 0.5
RATE_LIMITED_READ_RETRIES = 3  # API_KEY_REQUESTS_PER_MINUTE: a read waits for the next minute, a few times
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class ApiError(Exception):
    """An answer other than 2xx, or no answer: `status` is the HTTP status (0 when the API did not answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api_key(settings: Settings, key_file: Path = KEY_FILE) -> str | None:
    """CRATEDIGGER_API_KEY, else the key `cratedigger serve` wrote to data/api-key, else None."""
    if settings.cratedigger_api_key is not None:
        return settings.cratedigger_api_key.get_secret_value()
    try:
        return key_file.read_text().strip() or None
    except OSError:
        return None


def _message(response: httpx.Response) -> str:
    """The API's `detail` in words: a sentence, or each field error as `where: what`."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if isinstance(detail, list):
        parts = []
        for error in detail:
            where = ".".join(str(p) for p in error.get("loc", []) if p not in ("body", "query", "path"))
            parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        detail = "; ".join(parts)
    return f"HTTP {response.status_code}: {detail}"


def _rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait (at most a minute: the API's window), or None for any other answer."""
    if response.status_code != 429:
        return None
    try:
        return min(float(response.headers.get("retry-after", "1")), 60.0)
    except ValueError:
        return 1.0


class ApiClient:
    def __init__(
        self, base_url: str, key: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=TIMEOUT, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiClient:
        return cls(settings.cratedigger_url, api_key(settings))

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer (None for 204); ApiError otherwise. A read refused for the key's
        request rate (429) is asked again after the `Retry-After` the API gives, a few times."""
        for attempt in range(RATE_LIMITED_READ_RETRIES + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                raise ApiError(
                    0, f"no answer from {self.base_url}: {error} (is `cratedigger serve` running?)"
                ) from error
            wait = _rate_limit_wait(response) if method == "GET" else None
            if wait is None or attempt == RATE_LIMITED_READ_RETRIES:
                break
            time.sleep(wait)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response))
        return None if response.status_code == 204 else response.json()

    def redirect_target(self, path: str) -> str:
        """Where a GET that answers with a redirect points (not followed): a page for the user's browser."""
        try:
            response = self._http.request("GET", path)
        except httpx.TransportError as error:
            raise ApiError(0, f"no answer from {self.base_url}: {error}") from error
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response))
        location: str | None = response.headers.get("location")
        if not response.is_redirect or not location:
            raise ApiError(
                response.status_code, f"HTTP {response.status_code} from {path}: expected a redirect"
            )
        return location

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def download(self, path: str, params: dict[str, Any], into: Any) -> int:
        """Stream a GET's body into the binary file `into` chunk by chunk; returns the bytes written."""
        written = 0
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=httpx.Timeout(None, connect=5.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, _message(response))
                for chunk in response.iter_bytes():
                    into.write(chunk)
                    written += len(chunk)
        except httpx.TransportError as error:
            raise ApiError(0, f"no answer from {self.base_url}: {error}") from error
        return written

    def task_updates(self, task_id: str) -> Iterator[dict[str, Any]]:
        """Each new status of the task until its final state: from `GET /tasks/{id}/events`, or by polling
        `GET /tasks/status/{id}` when the API has no event stream."""
        try:
            yield from self._events(task_id)
        except _NoEventStream:
            yield from self._poll(task_id)

    def _events(self, task_id: str) -> Iterator[dict[str, Any]]:
        timeout = httpx.Timeout(None, connect=5.0)
        try:
            with self._http.stream("GET", f"/tasks/{task_id}/events", timeout=timeout) as response:
                if response.status_code in (404, 405) and "text/event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    response.read()
                    if response.status_code == 404 and "No task" in response.text:
                        raise ApiError(404, _message(response))
                    raise _NoEventStream
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, _message(response))
                yield from _status_events(response.iter_lines())
        except httpx.TransportError as error:
            raise ApiError(0, f"the event stream of {task_id} broke off: {error}") from error

    def _poll(self, task_id: str) -> Iterator[dict[str, Any]]:
        last: dict[str, Any] | None = None
        while True:
            status: dict[str, Any] = self.get(f"/tasks/status/{task_id}")
            if status != last:
                yield status
                last = status
            if status["state"] in FINAL_STATES:
                return
            time.sleep(POLL_SECONDS)


class _NoEventStream(Exception):
    pass


def _status_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The `status` events' JSON from Server-Sent Event lines (comments and other events skipped)."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if event == "status" and data:
                yield json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
