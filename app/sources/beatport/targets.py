"""What to collect from Beatport: parse user-given URLs/paths into targets and build canonical site paths.

Pure functions, no I/O. Beatport routes are decided by the numeric id; the slug is cosmetic (the site accepts
`_`), so a target keeps the slug only to build human-looking paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from app.errors import InvalidTargetError
from app.sources.beatport.entities import TargetKind
from app.sources.beatport.genres import genre_by_id, genre_by_name, genre_by_slug

# Label/artist track lists: 150 is the largest page size the site serves (djsupport's label importer).
PAGINATED_PER_PAGE = 150

SUPPORTED_KINDS_HELP = (
    "Supported Beatport targets (full https://www.beatport.com URLs or bare paths, optionally with a "
    "locale prefix such as /de/): "
    "genre Top 100 /genre/tech-house/11/top-100 (or just a genre slug or id, e.g. tech-house or 11); "
    "overall Top 100 /top-100; "
    "chart /chart/<slug>/<id>; "
    "release /release/<slug>/<id>; "
    "track /track/<slug>/<id>; "
    "label tracks /label/<slug>/<id>/tracks; "
    "artist tracks /artist/<slug>/<id>/tracks."
)

# Where people open a target's path (BEATPORT_BASE_URL may point at a fake).
BEATPORT_SITE_URL = "https://www.beatport.com"
_HOSTS = frozenset({"www.beatport.com", "beatport.com"})
_LOCALE = re.compile(r"[a-z]{2}")
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits that fit a BIGINT

ChartKind = Literal["genre-top-100", "top-100", "chart"]
_CHART_KIND_OF: dict[TargetKind, ChartKind] = {
    TargetKind.GENRE_TOP100: "genre-top-100",
    TargetKind.TOP100: "top-100",
    TargetKind.CHART: "chart",
}
_CHART_KINDS_BY_NAME: dict[str, TargetKind] = {name: kind for kind, name in _CHART_KIND_OF.items()}
_CHART_KEY = re.compile(r"(?P<kind>genre-top-100|chart)-(?P<id>[1-9][0-9]{0,18})")
_PAGINATED_KINDS = frozenset({TargetKind.LABEL_TRACKS, TargetKind.ARTIST_TRACKS})
# Kinds whose URL is /<segment>/<slug>/<id>[/<suffix>]
_ENTITY_SEGMENTS: dict[str, TargetKind] = {
    "genre": TargetKind.GENRE_TOP100,
    "chart": TargetKind.CHART,
    "release": TargetKind.RELEASE,
    "track": TargetKind.TRACK,
    "label": TargetKind.LABEL_TRACKS,
    "artist": TargetKind.ARTIST_TRACKS,
}
# Accepted trailing segment after the id, per first segment. "" = the entity's landing page, which for
# genres/labels/artists is taken to mean their Top 100 / track list (the genre menu links to the landing page).
_SUFFIXES: dict[str, frozenset[str]] = {
    "genre": frozenset({"", "top-100"}),
    "chart": frozenset({""}),
    "release": frozenset({""}),
    "track": frozenset({""}),
    "label": frozenset({"", "tracks"}),
    "artist": frozenset({"", "tracks"}),
}


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: int | None
    slug: str | None

    def __post_init__(self) -> None:
        if self.kind is TargetKind.TOP100:
            if self.id is not None:
                raise ValueError("the overall Top 100 target has no id")
        elif self.id is None or self.id <= 0:
            raise ValueError(f"a {self.kind.value} target needs a positive id, got {self.id!r}")

    @property
    def paginated(self) -> bool:
        """Label/artist track lists span several pages; every other kind is one page."""
        return self.kind in _PAGINATED_KINDS

    @property
    def chart_kind(self) -> ChartKind | None:
        """What kind of ranked list this is (`genre-top-100`, `top-100`, `chart`); None for unranked kinds."""
        return _CHART_KIND_OF.get(self.kind)

    @property
    def chart_key(self) -> str | None:
        """Stable, URL-safe name of a ranked list (for storing positions over time): `genre-top-100-11`,
        `top-100`, `chart-900123`. Kind and id only, so locales and slugs of one chart share it. None for
        unranked kinds."""
        chart_kind = self.chart_kind
        if chart_kind is None:
            return None
        return chart_kind if self.id is None else f"{chart_kind}-{self.id}"

    def identity(self, max_pages: int | None = None) -> str:
        """What is collected, however it was spelled: kind and Beatport id (the slug is decoration), and the
        page limit only where it changes the result (paginated kinds)."""
        pages = f":pages={max_pages}" if self.paginated and max_pages is not None else ""
        return f"{self.kind.value}:{self.id if self.id is not None else '-'}{pages}"

    def path(self, page: int = 1, per_page: int | None = None) -> str:
        """Canonical www.beatport.com path (with query string for paginated kinds)."""
        if page < 1:
            raise ValueError(f"page must be >= 1, got {page}")
        slug = quote(self.slug, safe="-_.~") if self.slug else "_"
        if self.kind is TargetKind.TOP100:
            base = "/top-100"
        elif self.kind is TargetKind.GENRE_TOP100:
            base = f"/genre/{slug}/{self.id}/top-100"
        elif self.kind is TargetKind.LABEL_TRACKS:
            base = f"/label/{slug}/{self.id}/tracks"
        elif self.kind is TargetKind.ARTIST_TRACKS:
            base = f"/artist/{slug}/{self.id}/tracks"
        else:  # chart, release, track
            base = f"/{self.kind.value}/{slug}/{self.id}"
        if self.paginated:
            return f"{base}?page={page}&per_page={per_page or PAGINATED_PER_PAGE}"
        # One-page kinds need no query string; a later page is only asked for if a caller insists.
        params = [f"page={page}"] if page > 1 else []
        if per_page is not None:
            params.append(f"per_page={per_page}")
        return f"{base}?{'&'.join(params)}" if params else base

    def describe(self) -> str:
        """Human text for progress messages, e.g. "Tech House Top 100 (genre 11)"."""
        name = self.slug.replace("-", " ") if self.slug and self.slug != "_" else None
        if self.kind is TargetKind.TOP100:
            return "Beatport Top 100"
        if self.kind is TargetKind.GENRE_TOP100:
            genre = genre_by_id(self.id) if self.id is not None else None
            label = genre.name if genre else (name or "genre")
            return f"{label} Top 100 (genre {self.id})"
        noun = {
            TargetKind.CHART: "chart",
            TargetKind.RELEASE: "release",
            TargetKind.TRACK: "track",
            TargetKind.LABEL_TRACKS: "tracks of label",
            TargetKind.ARTIST_TRACKS: "tracks of artist",
        }[self.kind]
        return f'{noun} "{name}" ({self.id})' if name else f"{noun} {self.id}"


def chart_target(chart_key: str) -> Target | None:
    """The target a chart key names (the inverse of `Target.chart_key`, with the genre's own slug where the
    genre is known); None for text that is not a chart key."""
    if chart_key == "top-100":
        return Target(TargetKind.TOP100, None, None)
    match = _CHART_KEY.fullmatch(chart_key)
    if match is None:
        return None
    kind, chart_id = _CHART_KINDS_BY_NAME[match["kind"]], int(match["id"])
    genre = genre_by_id(chart_id) if kind is TargetKind.GENRE_TOP100 else None
    return Target(kind, chart_id, genre.slug if genre else None)


def _invalid(given: str, why: str) -> InvalidTargetError:
    return InvalidTargetError(f"Unsupported Beatport target {given!r}: {why}. {SUPPORTED_KINDS_HELP}")


def parse_target(url_or_path: str) -> Target:
    """Parse a www.beatport.com URL or site path into a Target; raise InvalidTargetError otherwise."""
    segments = _page_segments(url_or_path)
    head = segments[0].lower()
    if head == "top-100" and len(segments) == 1:
        return Target(TargetKind.TOP100, None, None)
    kind = _ENTITY_SEGMENTS.get(head)
    if kind is None:
        raise _invalid(url_or_path, f"/{head}/ pages are not supported")
    if len(segments) not in (3, 4):
        raise _invalid(url_or_path, f"expected /{head}/<slug>/<id>{_suffix_hint(head)}")
    slug, raw_id = segments[1], segments[2]
    suffix = segments[3].lower() if len(segments) == 4 else ""
    if not _ID.fullmatch(raw_id) or int(raw_id) == 0:
        raise _invalid(url_or_path, f"the id {raw_id!r} is not a positive number")
    if suffix not in _SUFFIXES[head]:
        raise _invalid(url_or_path, f"/{head}/<slug>/<id>/{suffix} pages are not supported")
    target_id = int(raw_id)
    if kind is TargetKind.GENRE_TOP100:
        # The id decides; a known genre's own slug gives the canonical path (and one chart per genre).
        genre = genre_by_id(target_id)
        slug = genre.slug if genre and genre.slug else slug
    return Target(kind, target_id, None if slug == "_" else slug)


def _page_segments(given: str) -> list[str]:
    """The path segments of a www.beatport.com URL or path, locale prefix dropped; raises for anything else."""
    text = given.strip()
    if not text:
        raise _invalid(given, "it is empty")
    lowered = text.lower()
    if lowered.startswith(("beatport.com/", "www.beatport.com/")) or lowered in _HOSTS:
        text = "https://" + text  # a URL pasted without its scheme
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https"):
            raise _invalid(given, f"the scheme {parts.scheme!r} is not http(s)")
        host = (parts.hostname or "").lower()
        if host not in _HOSTS:
            raise _invalid(given, f"the host {host or '(none)'!r} is not www.beatport.com")
    elif not text.startswith("/"):
        parts = urlsplit("/" + text)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and _LOCALE.fullmatch(segments[0].lower()):
        segments = segments[1:]  # /de/..., /fr/...: same page in another language
    if not segments:
        raise _invalid(given, "it has no page path")
    return segments


def _suffix_hint(head: str) -> str:
    extra = sorted(s for s in _SUFFIXES.get(head, frozenset()) if s)
    return f"[/{extra[0]}]" if extra else ""


def genre_target(genre: str | int) -> Target:
    """Genre Top 100 target from a genre slug ("tech-house"), id (11 or "11") or display name."""
    found = None
    if isinstance(genre, int) and not isinstance(genre, bool):
        found = genre_by_id(genre)
    elif isinstance(genre, str):
        text = genre.strip()
        by_id = genre_by_id(int(text)) if _ID.fullmatch(text) else None
        found = by_id or genre_by_slug(text) or genre_by_name(text)
    if found is None:
        raise InvalidTargetError(
            f"Unknown Beatport genre {genre!r}: use one of the 46 Beatport genre slugs or ids, "
            "e.g. tech-house (11), techno-peak-time-driving (6), melodic-house-techno (90), "
            "drum-bass (1), afro-house (89)."
        )
    return Target(TargetKind.GENRE_TOP100, found.id, found.slug)
