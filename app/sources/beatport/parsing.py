"""Parse Beatport pages: the `__NEXT_DATA__` JSON of www.beatport.com pages into ParsedPage/BeatportTrack.

Pure functions, no I/O. Speed matters (pages are ~1 MB and the budget is ~30 ms CPU per page for parse+store),
so the script tag is located with str.find plus a small regex on the opening tag, never with a full HTML parse;
BeautifulSoup only runs as a fallback when the fast path finds no tag but the page mentions `__NEXT_DATA__`.

Data selection follows the README in shared/fixtures/beatport: React Query queries are chosen by queryKey
prefix or by shape, never by index, and every track field is treated as optional.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import BotChallengeError, PermanentSourceError
from app.sources.beatport.entities import BeatportTrack, ParsedPage, TargetKind
from app.sources.beatport.track_object import as_dict, as_int, as_str, parse_track

__all__ = ["extract_next_data", "parse_html", "parse_page", "parse_track"]

# ---------------------------------------------------------------------------------------------------------
# __NEXT_DATA__ extraction

_MARKER = "__NEXT_DATA__"
# The opening tag must carry id="__NEXT_DATA__" (any quoting, any attribute order); the marker alone also
# shows up in inline JS such as document.getElementById("__NEXT_DATA__").
_ID_ATTR = re.compile(r"""\sid\s*=\s*(?:"__NEXT_DATA__"|'__NEXT_DATA__'|__NEXT_DATA__(?=[\s/>]))""", re.I)
_CHALLENGE_MARKERS = ("/human-test/", "findProof")


def _as_text(html: str | bytes) -> str:
    # Beatport serves UTF-8; a stray bad byte must not hide the JSON.
    return html if isinstance(html, str) else html.decode("utf-8", errors="replace")


def _find_script_body(text: str) -> str | None:
    """Return the raw text inside <script id="__NEXT_DATA__">, or None. Scans only near each marker."""
    lowered: str | None = None
    pos = 0
    while True:
        hit = text.find(_MARKER, pos)
        if hit < 0:
            return None
        pos = hit + len(_MARKER)
        tag_start = text.rfind("<", 0, hit)
        tag_end = text.find(">", hit)
        if tag_start < 0 or tag_end < 0 or text.find(">", tag_start, hit) >= 0:
            continue  # the marker is not inside a tag
        if text[tag_start : tag_start + 7].lower() != "<script":
            continue
        if not _ID_ATTR.search(text, tag_start, tag_end + 1):
            continue
        body_end = text.find("</script", tag_end)
        if body_end < 0:
            # Case-insensitive retry only when needed (lowering 1 MB costs ~1 ms).
            lowered = lowered if lowered is not None else text.lower()
            body_end = lowered.find("</script", tag_end)
            if body_end < 0:
                return None
        return text[tag_end + 1 : body_end]


def _find_script_body_soup(text: str) -> str | None:
    """Slow, tolerant fallback for markup the fast scan does not understand."""
    from bs4 import BeautifulSoup  # imported lazily: only odd pages pay for it

    soup = BeautifulSoup(text, "lxml")
    tag = soup.find("script", id=_MARKER)
    return tag.string if tag is not None and tag.string is not None else None


def extract_next_data(html: str | bytes, *, url: str) -> dict[str, Any]:
    """Return the decoded `__NEXT_DATA__` object of a Beatport page.

    Raises TransientSourceError for a bot-challenge page (retrying later may pass) and PermanentSourceError
    when the tag is missing from a normal page or its JSON is broken (the site changed).
    """
    text = _as_text(html)
    body = _find_script_body(text)
    if body is None and _MARKER in text:
        body = _find_script_body_soup(text)
    if body is None:
        if any(marker in text for marker in _CHALLENGE_MARKERS):
            raise BotChallengeError(f"Beatport served a bot challenge for {url}")
        raise PermanentSourceError(
            f"Beatport page {url} has no __NEXT_DATA__ script tag: the page structure changed "
            "(or this is not a Beatport page)"
        )
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError on odd input
        raise PermanentSourceError(
            f"Beatport page {url}: could not decode __NEXT_DATA__ JSON ({exc})"
        ) from exc
    if not isinstance(data, dict):
        raise PermanentSourceError(
            f"Beatport page {url}: could not decode __NEXT_DATA__ JSON (expected an object, "
            f"got {type(data).__name__})"
        )
    return data


# ---------------------------------------------------------------------------------------------------------
# Page selection

_CHART_KINDS = frozenset({TargetKind.GENRE_TOP100, TargetKind.TOP100, TargetKind.CHART})

# Preferred queryKey per kind. Verified: genre-11-top-100-tracks-per_page=100&hype=false, track-<id>.
# The others are plausible guesses; selection falls back to shape when they do not match.
_KEY_PATTERNS: dict[TargetKind, re.Pattern[str]] = {
    TargetKind.GENRE_TOP100: re.compile(r"^genre-\d+-top-100-tracks"),
    TargetKind.TOP100: re.compile(r"^top-100-tracks"),
    TargetKind.CHART: re.compile(r"^chart-\d+-tracks"),
    TargetKind.RELEASE: re.compile(r"^release-\d+-tracks"),
    TargetKind.LABEL_TRACKS: re.compile(r"^label-\d+-tracks"),
    TargetKind.ARTIST_TRACKS: re.compile(r"^artist-\d+-tracks"),
    TargetKind.TRACK: re.compile(r"^track-\d+$"),
}
# Where the page's entity (for the title) lives: pageProps.<prop> or a query keyed "<prefix>-<id>".
_ENTITY_PROP: dict[TargetKind, str] = {
    TargetKind.GENRE_TOP100: "genre",
    TargetKind.CHART: "chart",
    TargetKind.RELEASE: "release",
    TargetKind.LABEL_TRACKS: "label",
    TargetKind.ARTIST_TRACKS: "artist",
}
_KIND_WORDS: dict[TargetKind, str] = {
    TargetKind.GENRE_TOP100: "genre Top 100",
    TargetKind.TOP100: "Top 100",
    TargetKind.CHART: "chart",
    TargetKind.RELEASE: "release",
    TargetKind.LABEL_TRACKS: "label tracks",
    TargetKind.ARTIST_TRACKS: "artist tracks",
    TargetKind.TRACK: "track",
}


def _query_key(query: Mapping[str, Any]) -> str:
    key = query.get("queryKey")
    if isinstance(key, list) and key and isinstance(key[0], str):
        return key[0]
    return key if isinstance(key, str) else ""


def _query_data(query: Mapping[str, Any]) -> Any:
    state = as_dict(query.get("state"))
    return state.get("data") if state else None


def _track_list(data: Any) -> list[Any] | None:
    """The list of track objects in a paginated envelope (`results`, or `tracks` on some list pages)."""
    if not isinstance(data, dict):
        return None
    for name in ("results", "tracks"):
        items = data.get(name)
        # A release object's own `tracks` is a list of API URL strings: not track objects.
        if isinstance(items, list) and all(isinstance(i, dict) for i in items):
            if name == "tracks" and not items:
                continue
            return items
    return None


# Fields a track has and its neighbours (releases, charts, artists) lack.
_TRACK_ONLY_FIELDS = ("mix_name", "length_ms", "bpm", "sample_url", "release")


def _looks_like_tracks(items: Sequence[Any]) -> bool:
    # djsupport's rule (a non-empty list of dicts that have `artists`) would also accept release lists,
    # so also require a field only tracks have.
    return bool(items) and all(
        isinstance(i, dict) and "artists" in i and any(f in i for f in _TRACK_ONLY_FIELDS) for i in items
    )


def _select_tracks_query(
    queries: Sequence[Mapping[str, Any]], kind: TargetKind
) -> tuple[str, dict[str, Any], list[Any]] | None:
    pattern = _KEY_PATTERNS[kind]
    candidates: list[tuple[int, str, dict[str, Any], list[Any]]] = []
    for query in queries:
        key = _query_key(query)
        data = _query_data(query)
        items = _track_list(data)
        if items is None or not isinstance(data, dict):
            continue
        if pattern.match(key):
            rank = 0  # the key this kind of page is known/expected to use
        elif _looks_like_tracks(items):
            rank = 1  # right shape under an unexpected key
        elif not items and "tracks" in key:
            rank = 2  # an empty tracks list is still a valid (empty) page
        else:
            continue
        candidates.append((rank, key, data, items))
    if not candidates:
        return None
    # min() keeps the first of equal rank, i.e. page order.
    _, key, data, items = min(candidates, key=lambda c: c[0])
    return key, data, items


def _page_number(value: Any) -> int | None:
    # The site sends page "1"; api v4 sends "1/3"; be ready for an int too.
    if isinstance(value, str):
        value = value.split("/", 1)[0]
    return as_int(value)


def _entity(page_props: Mapping[str, Any], queries: Sequence[Mapping[str, Any]], kind: TargetKind) -> Any:
    prop = _ENTITY_PROP.get(kind)
    if prop is None:
        return None
    entity = as_dict(page_props.get(prop))
    if entity is not None:
        return entity
    entity_key = re.compile(rf"^{prop}-\d+$")
    for query in queries:
        if entity_key.match(_query_key(query)):
            data = as_dict(_query_data(query))
            if data is not None:
                return data
    return None


def _missing(url: str, kind: TargetKind, what: str) -> PermanentSourceError:
    return PermanentSourceError(
        f"Beatport {_KIND_WORDS[kind]} page {url}: {what} in __NEXT_DATA__ (the page structure changed)"
    )


def parse_page(next_data: dict[str, Any], *, kind: TargetKind, url: str, page: int = 1) -> ParsedPage:
    """Turn a page's `__NEXT_DATA__` (or a `/_next/data/...json` body) into a ParsedPage.

    `page` is the page number that was requested; the envelope's own `page` wins when present.
    """
    props = as_dict(next_data.get("props"))
    # /_next/data/<build>/...json bodies are {pageProps, __N_SSP} without the props wrapper.
    page_props = as_dict(props.get("pageProps")) if props else as_dict(next_data.get("pageProps"))
    if page_props is None:
        raise _missing(url, kind, "no props.pageProps")
    build_id = as_str(next_data.get("buildId"))
    dehydrated = as_dict(page_props.get("dehydratedState"))
    raw_queries = dehydrated.get("queries") if dehydrated else None
    queries: list[Mapping[str, Any]] = (
        [q for q in raw_queries if isinstance(q, dict)] if isinstance(raw_queries, list) else []
    )

    if kind is TargetKind.TRACK:
        return _parse_track_page(next_data, page_props, queries, url=url, build_id=build_id)

    selected = _select_tracks_query(queries, kind)
    if selected is None:
        seen = ", ".join(repr(_query_key(q)) for q in queries) or "none"
        raise _missing(
            url, kind, f"no tracks query (a dehydrated query with a `results` list; queries: {seen})"
        )
    query_key, envelope, items = selected

    tracks, indices, skipped = _parse_items(items)
    if items and not tracks:
        raise _missing(url, kind, f"none of the {len(items)} track objects has an id and a name")

    page_no = _page_number(envelope.get("page")) or page
    per_page = as_int(envelope.get("per_page"))
    positions = None
    if kind in _CHART_KINDS:
        # No rank field exists: position = index in results + per_page*(page-1).
        offset = (per_page if per_page is not None else len(items)) * (page_no - 1)
        positions = tuple(offset + i + 1 for i in indices)

    entity = as_dict(_entity(page_props, queries, kind))
    title = as_str(entity.get("name")) if entity else None
    if title is None and kind is TargetKind.TOP100:
        title = "Beatport Top 100"
    extra = _extra(query_key, skipped, entity if kind is TargetKind.CHART else None)

    return ParsedPage(
        kind=kind,
        tracks=tuple(tracks),
        title=title,
        positions=positions,
        total_count=as_int(envelope.get("count")),
        page=page_no,
        per_page=per_page,
        build_id=build_id,
        extra=extra,
    )


def _parse_items(items: Sequence[Any]) -> tuple[list[BeatportTrack], list[int], list[int]]:
    """Tracks, the indices they came from, and the indices skipped as malformed."""
    tracks: list[BeatportTrack] = []
    indices: list[int] = []
    skipped: list[int] = []
    for index, item in enumerate(items):
        try:
            tracks.append(parse_track(item))
            indices.append(index)
        except ValueError:
            skipped.append(index)  # one malformed row must not sink a whole Top 100
    return tracks, indices, skipped


def _extra(query_key: str, skipped: list[int], chart: dict[str, Any] | None) -> dict[str, object]:
    extra: dict[str, object] = {"query_key": query_key}
    if skipped:
        extra["skipped_indices"] = skipped
    dj = (as_dict(chart.get("dj")) or as_dict(chart.get("person"))) if chart else None
    dj_name = as_str(dj.get("name")) if dj else None
    if dj_name:
        extra["chart_dj"] = dj_name
    return extra


def _parse_track_page(
    next_data: Mapping[str, Any],
    page_props: Mapping[str, Any],
    queries: Sequence[Mapping[str, Any]],
    *,
    url: str,
    build_id: str | None,
) -> ParsedPage:
    route_query = as_dict(next_data.get("query"))
    wanted_id = as_int(route_query.get("id")) if route_query else None
    candidates = []
    for query in queries:
        key = _query_key(query)
        data = as_dict(_query_data(query))
        if data is not None and _KEY_PATTERNS[TargetKind.TRACK].match(key):
            candidates.append(data)
    # A track page may also carry related-track queries; the route's id decides when known.
    obj = next((c for c in candidates if wanted_id is not None and as_int(c.get("id")) == wanted_id), None)
    if obj is None and candidates:
        obj = candidates[0]
    if obj is None:
        obj = as_dict(page_props.get("track"))
    if obj is None:
        seen = ", ".join(repr(_query_key(q)) for q in queries) or "none"
        raise _missing(url, TargetKind.TRACK, f"no track-<id> query or pageProps.track (queries: {seen})")
    try:
        track = parse_track(obj)
    except ValueError as exc:
        raise _missing(url, TargetKind.TRACK, str(exc)) from exc
    return ParsedPage.single_track(track, build_id=build_id)


def parse_html(html: str | bytes, *, kind: TargetKind, url: str, page: int = 1) -> ParsedPage:
    """extract_next_data + parse_page."""
    return parse_page(extract_next_data(html, url=url), kind=kind, url=url, page=page)
