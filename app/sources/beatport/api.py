"""Beatport API v4 catalog client: the same targets as the page fetcher, answered from api.beatport.com.

Used when www.beatport.com pages are behind a bot challenge (see shared/fixtures/beatport/api-v4/README.md).
Every target kind maps to one catalog endpoint; list endpoints answer the paginated envelope
`{next, previous, count, page: "N/M", per_page, results}`. Page URLs are always built from our own base URL
and the page number: `next` is only a yes/no (Beatport sends it without a scheme, and a link to another host
must never receive our bearer token). Track objects are mapped by the page parser's `parse_track`, so a
track stores the same row whichever source served it.

Politeness and errors follow `app.sources.http`, as for pages: a request budget of its own (shared per
process), Retry-After honoured for everyone in the process, short transient failures retried here with
backoff and long ones raised for the task's retry policy; 404 and other refusals are permanent. A 401 renews the token once
(`BeatportAuth.renew`) and retries the request once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.errors import PermanentSourceError
from app.sources.beatport.auth import BROWSER_USER_AGENT, AuthClientFactory, BeatportAuth, TokenStore
from app.sources.beatport.entities import BeatportTrack, ParsedPage, TargetKind
from app.sources.beatport.genres import genre_by_id
from app.sources.beatport.parsing import parse_track
from app.sources.beatport.targets import PAGINATED_PER_PAGE, Target
from app.sources.http import Answer, Site, SiteClient, Verdict, classify, retry_transient
from app.sources.ratelimit import AsyncRateLimiter

logger = logging.getLogger(__name__)

# One-page kinds (Top 100s, charts, releases) are read at this page size, every API page of them combined.
LIST_PER_PAGE = 100
MAX_LIST_PAGES = 20  # a chart or release longer than 2000 tracks is cut there

_CHART_KINDS = frozenset({TargetKind.GENRE_TOP100, TargetKind.TOP100, TargetKind.CHART})


@dataclass(frozen=True, slots=True)
class Envelope:
    """One page of a v4 list answer."""

    items: list[Any]
    count: int | None
    page: int
    last_page: int | None
    per_page: int | None
    has_next: bool


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_envelope(data: Any, *, url: str, page: int = 1) -> Envelope:
    """Read `{next, previous, count, page: "N/M", per_page, results}` (search answers use `tracks`)."""
    items = None
    if isinstance(data, dict):
        for name in ("results", "tracks"):
            if isinstance(data.get(name), list):
                items = data[name]
                break
    if items is None or not isinstance(data, dict):
        raise PermanentSourceError(f"Beatport API answer for {url} has no `results` list (the API changed?)")
    raw_page = data.get("page")
    page_no, last_page = page, None
    if isinstance(raw_page, str) and "/" in raw_page:
        head, _, tail = raw_page.partition("/")
        page_no = _int(head) or page
        last_page = _int(tail)
    elif _int(raw_page) is not None:
        page_no = _int(raw_page) or page
    return Envelope(
        items=items,
        count=_int(data.get("count")),
        page=page_no,
        last_page=last_page,
        per_page=_int(data.get("per_page")),
        has_next=bool(data.get("next")),
    )


def endpoint_for(target: Target, *, page: int = 1, per_page: int | None = None) -> tuple[str, dict[str, Any]]:
    """The catalog path (relative to the API base, trailing slash) and query for one page of `target`."""
    size = per_page or (PAGINATED_PER_PAGE if target.paginated else LIST_PER_PAGE)
    paging: dict[str, Any] = {"page": page, "per_page": size}
    kind = target.kind
    if kind is TargetKind.GENRE_TOP100:
        return f"catalog/genres/{target.id}/top/100/", {
            "per_page": size,
            **({"page": page} if page > 1 else {}),
        }
    if kind is TargetKind.TOP100:
        return "catalog/top/100/", {"per_page": size, **({"page": page} if page > 1 else {})}
    if kind is TargetKind.CHART:
        return f"catalog/charts/{target.id}/tracks/", paging
    if kind is TargetKind.RELEASE:
        return f"catalog/releases/{target.id}/tracks/", paging
    if kind is TargetKind.TRACK:
        return f"catalog/tracks/{target.id}/", {}
    if kind is TargetKind.LABEL_TRACKS:
        # The nested labels/{id}/tracks/ route answers 404 (fomoplayer); the filter is the way.
        return "catalog/tracks/", {"label_id": target.id, "order_by": "-publish_date", **paging}
    if kind is TargetKind.ARTIST_TRACKS:
        return f"catalog/artists/{target.id}/tracks/", {"order_by": "-publish_date", **paging}
    raise ValueError(f"no Beatport API endpoint for {kind}")


class BeatportApiClient:
    """Reads Beatport API v4 catalog endpoints with a bearer token from `BeatportAuth`."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_url: str,
        auth: BeatportAuth,
        limiter: AsyncRateLimiter,
        max_response_bytes: int = 5 * 1024 * 1024,
        attempts: int = 3,
        backoff_base_seconds: float = 1.0,
    ) -> None:
        self._http = SiteClient(
            client, site=Site(name="Beatport API", max_body_bytes=max_response_bytes), limiter=limiter
        )
        self._base = httpx.URL(api_url.rstrip("/") + "/")
        self.auth = auth
        self._attempts = attempts
        self._backoff_base = backoff_base_seconds

    @property
    def requests_made(self) -> int:
        return self._http.requests_made

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        client: httpx.AsyncClient,
        limiter: AsyncRateLimiter,
        token_store: TokenStore,
        auth_client_factory: AuthClientFactory | None = None,
    ) -> BeatportApiClient:
        """`client` reads the catalog; logins and refreshes run on fresh clients from `auth_client_factory`
        (default: plain clients with the Beatport timeouts)."""
        api_url = str(settings.beatport_api_url)
        auth = BeatportAuth(
            api_url=api_url,
            store=token_store,
            limiter=limiter,
            username=settings.beatport_username,
            password=settings.beatport_password,
            pasted_token=settings.beatport_api_token,
            timeout=httpx.Timeout(
                settings.beatport_read_timeout_seconds, connect=settings.beatport_connect_timeout_seconds
            ),
            client_factory=auth_client_factory,
        )
        return cls(
            client=client,
            api_url=api_url,
            auth=auth,
            limiter=limiter,
            max_response_bytes=settings.beatport_max_response_bytes,
            attempts=settings.beatport_fetch_attempts,  # the same inline retry budget as page fetches
        )

    @staticmethod
    def build_client(settings: Settings) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={
                "User-Agent": BROWSER_USER_AGENT,
                "Accept": "application/json",
                "Accept-Language": "en-US,en;q=0.9",
            },
            timeout=httpx.Timeout(
                settings.beatport_read_timeout_seconds, connect=settings.beatport_connect_timeout_seconds
            ),
            follow_redirects=False,  # same-host redirects are followed by SiteClient; others are refused
            limits=httpx.Limits(max_connections=4),
        )

    def url_for(self, path: str, params: dict[str, Any] | None = None) -> httpx.URL:
        url = self._base.join(path.lstrip("/"))
        return url.copy_merge_params(params) if params else url

    # -- targets -----------------------------------------------------------------------------------------
    async def fetch_page(self, target: Target, *, page: int = 1, per_page: int | None = None) -> ParsedPage:
        """One collection page of `target`, shaped like the page parser's result for the same page.

        Label/artist track lists are paginated like the site (`page`, `per_page`: pass the page size the
        site pages used so page N holds the same tracks); every other kind is one page, for which all API
        pages of the list are read and combined (positions continue across them).
        """
        if target.kind is TargetKind.TRACK:
            return await self._fetch_track(target)
        if target.paginated:
            path, params = endpoint_for(target, page=page, per_page=per_page)
            url = self.url_for(path, params)
            envelope = parse_envelope(await self.get_json(url), url=str(url), page=page)
            tracks, _ = _parse_items(envelope.items, url=str(url), kind=target.kind)
            return ParsedPage(
                kind=target.kind,
                tracks=tuple(tracks),
                title=self._title_from_tracks(target, tracks),
                total_count=envelope.count,
                page=envelope.page,
                per_page=envelope.per_page,
                extra={"source": "api", "endpoint": path},
            )
        return await self._fetch_whole_list(target)

    async def _fetch_track(self, target: Target) -> ParsedPage:
        path, _ = endpoint_for(target)
        url = self.url_for(path)
        data = await self.get_json(url)
        if not isinstance(data, dict):
            raise PermanentSourceError(f"Beatport API answer for {url} is not a track object")
        try:
            track = parse_track(data)
        except ValueError as error:
            raise PermanentSourceError(f"Beatport API answer for {url}: {error}") from error
        return ParsedPage.single_track(track, extra={"source": "api", "endpoint": path})

    async def _fetch_whole_list(self, target: Target) -> ParsedPage:
        tracks: list[BeatportTrack] = []
        positions: list[int] = []
        count: int | None = None
        per_page: int | None = None
        path = ""
        for api_page in range(1, MAX_LIST_PAGES + 1):
            path, params = endpoint_for(target, page=api_page)
            url = self.url_for(path, params)
            envelope = parse_envelope(await self.get_json(url), url=str(url), page=api_page)
            count = envelope.count if envelope.count is not None else count
            per_page = per_page or envelope.per_page
            page_tracks, indices = _parse_items(envelope.items, url=str(url), kind=target.kind)
            # As on pages: no rank field exists, position = index + per_page * (page - 1).
            offset = (envelope.per_page or len(envelope.items)) * (envelope.page - 1)
            tracks.extend(page_tracks)
            positions.extend(offset + i + 1 for i in indices)
            last = envelope.last_page
            if not envelope.items or not envelope.has_next or (last is not None and envelope.page >= last):
                break
        else:
            logger.warning("%s: stopped after %d API pages", target.describe(), MAX_LIST_PAGES)
        return ParsedPage(
            kind=target.kind,
            tracks=tuple(tracks),
            title=await self._title(target, tracks),
            positions=tuple(positions) if target.kind in _CHART_KINDS else None,
            total_count=count,
            page=1,
            per_page=per_page,
            extra={"source": "api", "endpoint": path},
        )

    async def _title(self, target: Target, tracks: list[BeatportTrack]) -> str | None:
        """The list's name, as the page parser takes it from the page's entity (used for chart snapshots)."""
        if target.kind is TargetKind.CHART:
            url = self.url_for(f"catalog/charts/{target.id}/")
            try:
                chart = await self.get_json(url)
            except PermanentSourceError as error:
                logger.info("no chart title: %s", error)
                return None
            name = chart.get("name") if isinstance(chart, dict) else None
            return (name.strip() or None) if isinstance(name, str) else None
        return self._title_from_tracks(target, tracks)

    @staticmethod
    def _title_from_tracks(target: Target, tracks: list[BeatportTrack]) -> str | None:
        first = tracks[0] if tracks else None
        if target.kind is TargetKind.TOP100:
            return "Beatport Top 100"
        if target.kind is TargetKind.GENRE_TOP100:
            genre = genre_by_id(target.id) if target.id is not None else None
            return genre.name if genre else (first.genre.name if first and first.genre else None)
        if first is None:
            return None
        if target.kind is TargetKind.RELEASE:
            return first.release.name if first.release else None
        if target.kind is TargetKind.LABEL_TRACKS:
            return first.label.name if first.label else None
        if target.kind is TargetKind.ARTIST_TRACKS:
            for artist in (*first.artists, *first.remixers):
                if artist.id == target.id:
                    return artist.name
        return None

    # -- HTTP --------------------------------------------------------------------------------------------
    async def get_json(self, url: httpx.URL) -> Any:
        """GET an API URL with the bearer token; short transient failures are retried here, then raised."""
        return await retry_transient(
            lambda: self._get_once(url),
            attempts=self._attempts,
            backoff_base=self._backoff_base,
            limiter=self._http.limiter,
        )

    async def _get_once(self, url: httpx.URL) -> Any:
        token = await self.auth.token()
        answer = await self._send(url, token)
        if classify(answer.status) is Verdict.AUTH:
            logger.info("Beatport API answered 401 for %s; renewing the token once", answer.url)
            token = await self.auth.renew(token)
            answer = await self._send(url, token)
            if classify(answer.status) is Verdict.AUTH:
                raise PermanentSourceError(
                    f"Beatport API rejected a freshly issued token for {answer.url} (HTTP 401): the account "
                    "may lack API access"
                )
        self._http.raise_for_status(answer)
        try:
            return json.loads(answer.body)
        except ValueError as error:
            raise PermanentSourceError(
                f"Beatport API answer for {answer.url} is not JSON (the API changed?)"
            ) from error

    async def _send(self, url: httpx.URL, token: str) -> Answer:
        # Same-origin redirects only (Beatport 301s paths without a trailing slash): the token never leaves.
        return await self._http.send("GET", url, headers={"Authorization": f"Bearer {token}"})


def _parse_items(items: list[Any], *, url: str, kind: TargetKind) -> tuple[list[BeatportTrack], list[int]]:
    """Map v4 track objects; a malformed one is skipped (as on pages), all malformed is an error."""
    tracks: list[BeatportTrack] = []
    indices: list[int] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        try:
            tracks.append(parse_track(item))
            indices.append(index)
        except ValueError:
            continue
    if items and not tracks:
        raise PermanentSourceError(
            f"Beatport API answer for {url}: none of the {len(items)} {kind.value} items is a track "
            "with an id and a name"
        )
    return tracks, indices
