"""Deciding which Spotify track item is our Beatport track — pure functions, no I/O.

Two paths (see tests/fixtures/spotify/README.md for the response shapes):

* ISRC: items of a `isrc:<ISRC>` search whose `external_ids.isrc` really equals ours. Several hits are
  normal (single, EP, compilations): the best title/mix, artist and duration agreement wins, then
  single/EP before album before compilation, then the earliest release.
* Text search fallback (no ISRC hit): `track:"<title>" artist:"<first artist>"`, each candidate scored on
  normalised title + mix, artist overlap and duration, accepted only at or above
  `SEARCH_ACCEPT_THRESHOLD` and never with a different remix or no shared artist.

Spotify spells Beatport's mixes as "Title - Extended Mix", sometimes "Title (Extended Mix)", and often
drops "Original Mix" entirely; both sides are split into (base title, version) before comparing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from app.sources.beatport.entities import BeatportTrack

# Score = weighted sum of three components in [0, 1]; the weights add up to 1.
TITLE_WEIGHT = 0.5
ARTIST_WEIGHT = 0.3
DURATION_WEIGHT = 0.2

SEARCH_ACCEPT_THRESHOLD = 0.75  # e.g. exact title, 1 of 2 artists, duration unknown = 0.75
DURATION_TOLERANCE_MS = 3_000  # same master: Beatport and Spotify lengths agree within a few seconds
DURATION_NEAR_MS = 10_000  # half credit up to here, none beyond
TITLE_SIMILARITY_MIN = 0.9  # below this two base titles are different songs
NAME_SIMILARITY_MIN = 0.9  # artist names: tolerate small spelling differences only
UNDECLARED_VERSION_SCORE = 0.6  # "Extended Mix" on one side, nothing (or "Original") on the other

# Version labels that name the default recording; "mix"/"version" words are dropped before comparing.
_DEFAULT_VERSIONS = frozenset({"", "original", "main"})
# Words marking a *different* recording: such versions must match exactly, never be assumed.
_DISTINCT_VERSION_WORDS = frozenset(
    {"remix", "rmx", "dub", "rework", "vip", "bootleg", "flip", "reprise", "live", "acoustic", "instrumental"}
)
_VERSION_WORDS = _DISTINCT_VERSION_WORDS | {
    "mix",
    "edit",
    "version",
    "extended",
    "original",
    "radio",
    "club",
    "remaster",
    "remastered",
    "cut",
}
_FEAT_BRACKETED = re.compile(r"\s*[(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s[^)\]]*[)\]]", re.IGNORECASE)
_FEAT_TRAILING = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
_DASH_SUFFIX = re.compile(r"^(?P<base>.+?)\s+[-–—]\s+(?P<version>[^-–—]+)$")
_BRACKET_SUFFIX = re.compile(r"^(?P<base>.+?)\s*[(\[](?P<version>[^()\[\]]+)[)\]]$")

_ALBUM_TYPE_RANK = {"single": 0, "album": 1, "compilation": 2}  # Spotify files EPs under "single"


@dataclass(frozen=True, slots=True)
class TrackToMatch:
    """What we know about our track (from Beatport)."""

    isrc: str | None
    title: str
    mix_name: str | None
    artists: tuple[str, ...]
    duration_ms: int | None

    @classmethod
    def from_beatport(cls, track: BeatportTrack) -> TrackToMatch:
        return cls(
            isrc=track.isrc,
            title=track.name,
            mix_name=track.mix_name,
            artists=tuple(artist.name for artist in track.artists),
            duration_ms=track.length_ms,
        )


@dataclass(frozen=True, slots=True)
class MatchResult:
    item: dict[str, Any]
    score: float
    method: Literal["isrc", "search"]


@dataclass(frozen=True, slots=True)
class CandidateScore:
    title: float  # base-title similarity × version compatibility
    artists: float  # share of our artists credited on the item
    duration: float  # 1 within ±3 s, 0.5 within ±10 s or when unknown, else 0

    @property
    def total(self) -> float:
        # Rounded so that threshold comparisons don't hinge on float noise.
        total = TITLE_WEIGHT * self.title + ARTIST_WEIGHT * self.artists + DURATION_WEIGHT * self.duration
        return round(total, 4)


# -- normalisation ---------------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """Casefold, strip accents and punctuation, '&' → 'and', collapse whitespace."""
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().replace("&", " and ")
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def strip_featuring(text: str) -> str:
    return _FEAT_TRAILING.sub("", _FEAT_BRACKETED.sub("", text)).strip()


def _is_version_label(text: str) -> bool:
    return bool(set(normalize(text).split()) & _VERSION_WORDS)


def split_version(name: str) -> tuple[str, str]:
    """'Night Drive (feat. X) - Extended Mix' → ('Night Drive', 'Extended Mix'); no version → (name, '').

    Only suffixes that look like a version label are peeled, so a title such as 'Part One - Two' stays whole.
    """
    name = strip_featuring(name)
    versions: list[str] = []
    while True:
        match = _DASH_SUFFIX.match(name) or _BRACKET_SUFFIX.match(name)
        if match is None or not _is_version_label(match["version"]):
            break
        versions.insert(0, match["version"].strip())
        name = strip_featuring(match["base"])
    return name.strip(), " ".join(versions)


def _canonical_version(version: str | None) -> str:
    words = [w for w in normalize(version or "").split() if w not in ("mix", "version")]
    return " ".join(words)


def _similar(a: str, b: str) -> float:
    return 1.0 if a == b else SequenceMatcher(None, a, b).ratio()


def version_compatibility(ours: str | None, theirs: str | None) -> float:
    """1 = same version, UNDECLARED_VERSION_SCORE = one side unlabelled, 0 = a different recording."""
    a, b = _canonical_version(ours), _canonical_version(theirs)
    if (
        a == b
        or sorted(a.split()) == sorted(b.split())
        or (a in _DEFAULT_VERSIONS and b in _DEFAULT_VERSIONS)
    ):
        return 1.0  # word order varies too: "Extended Remix" vs "Remix - Extended Mix"
    if _similar(a, b) >= NAME_SIMILARITY_MIN:
        return 0.9
    distinct = bool((set(a.split()) | set(b.split())) & _DISTINCT_VERSION_WORDS)
    if not distinct and (a in _DEFAULT_VERSIONS or b in _DEFAULT_VERSIONS):
        return UNDECLARED_VERSION_SCORE  # e.g. Beatport "Extended Mix", Spotify just "Title"
    return 0.0


# -- artist names ----------------------------------------------------------------------------------------
# Beatport disambiguates homonyms with a suffix ("Ajna (BE)", "GENESI (ITA)"); Spotify does not.
_DISAMBIGUATION = re.compile(r"\s*\([A-Za-z]{2,3}\)\s*$")


def spotify_artist_name(name: str) -> str:
    """A Beatport artist name as Spotify spells it: "Chico Rose (NL)" → "Chico Rose" (for queries and scoring)."""
    return _DISAMBIGUATION.sub("", name).strip() or name


def artist_name_keys(name: str) -> list[str]:
    """Normalised spellings an artist name is matched on: as given, and without a "(BE)"-style suffix."""
    plain = normalize(strip_featuring(name))
    bare = normalize(_DISAMBIGUATION.sub("", strip_featuring(name)))
    return [key for key in dict.fromkeys((plain, bare)) if key]


# -- scoring ---------------------------------------------------------------------------------------------
def _item_artist_names(item: Mapping[str, Any]) -> list[str]:
    artists = item.get("artists") or []
    return [normalize(a["name"]) for a in artists if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _artist_overlap(ours: Iterable[str], theirs: list[str]) -> float:
    wanted = [n for n in (normalize(strip_featuring(a)) for a in ours) if n]
    if not wanted:
        return 0.5  # nothing to compare: neutral
    found = sum(1 for name in wanted if any(_similar(name, other) >= NAME_SIMILARITY_MIN for other in theirs))
    return found / len(wanted)


def _duration_score(ours: int | None, theirs: Any) -> float:
    if ours is None or not isinstance(theirs, int):
        return 0.5
    diff = abs(ours - theirs)
    if diff <= DURATION_TOLERANCE_MS:
        return 1.0
    return 0.5 if diff <= DURATION_NEAR_MS else 0.0


def score_candidate(track: TrackToMatch, item: Mapping[str, Any]) -> CandidateScore:
    our_base, our_title_version = split_version(track.title)
    our_version = track.mix_name or our_title_version
    their_base, their_version = split_version(str(item.get("name") or ""))
    base = _similar(normalize(our_base), normalize(their_base))
    title = base * version_compatibility(our_version, their_version) if base >= TITLE_SIMILARITY_MIN else 0.0
    return CandidateScore(
        title=round(title, 4),
        artists=round(_artist_overlap(track.artists, _item_artist_names(item)), 4),
        duration=_duration_score(track.duration_ms, item.get("duration_ms")),
    )


def _isrc_of(item: Mapping[str, Any]) -> str | None:
    external_ids = item.get("external_ids")
    isrc = external_ids.get("isrc") if isinstance(external_ids, dict) else None
    return isrc.strip().upper() if isinstance(isrc, str) else None


def _album(item: Mapping[str, Any]) -> Mapping[str, Any]:
    album = item.get("album")
    return album if isinstance(album, dict) else {}


# -- queries ---------------------------------------------------------------------------------------------
def isrc_query(isrc: str) -> str:
    return f"isrc:{isrc.strip().upper()}"


def _query_value(text: str) -> str:
    # Spotify's query syntax has no escape for '"': drop it rather than let it end the quoted value.
    return " ".join(strip_featuring(text).replace('"', " ").split())


def build_search_query(track: TrackToMatch) -> str:
    """`track:"<title>" artist:"<first artist>"` — the title without feat./version, which Spotify spells variously."""
    title = _query_value(split_version(track.title)[0])
    query = f'track:"{title}"'
    if track.artists and _query_value(track.artists[0]):
        query += f' artist:"{_query_value(track.artists[0])}"'
    return query


# -- matching --------------------------------------------------------------------------------------------
def match_by_isrc(track: TrackToMatch, items: Iterable[dict[str, Any]]) -> MatchResult | None:
    """Best item of an ISRC search whose ISRC really is ours; None when there is none.

    An item agreeing on neither title nor any artist is dropped as an ISRC collision (labels do reuse them).
    """
    if not track.isrc:
        return None
    wanted = track.isrc.strip().upper()
    scored = [(score_candidate(track, item), item) for item in items if _isrc_of(item) == wanted]
    scored = [(score, item) for score, item in scored if score.title > 0 or score.artists > 0]
    if not scored:
        return None

    def rank(entry: tuple[CandidateScore, dict[str, Any]]) -> tuple[float, float, float, int, str]:
        score, item = entry
        album = _album(item)
        album_rank = _ALBUM_TYPE_RANK.get(str(album.get("album_type") or "").lower(), len(_ALBUM_TYPE_RANK))
        release = str(album.get("release_date") or "9999")  # ISO strings sort chronologically
        return (-score.title, -score.artists, -score.duration, album_rank, release)

    best_score, best_item = min(scored, key=rank)
    return MatchResult(item=best_item, score=best_score.total, method="isrc")


def match_by_search(track: TrackToMatch, items: Iterable[dict[str, Any]]) -> MatchResult | None:
    """Best text-search candidate scoring at least SEARCH_ACCEPT_THRESHOLD, or None.

    Hard requirements besides the threshold: the same song and version (title score > 0) and at least one
    shared artist — a same-titled track by someone else, or another remix, is never accepted.
    """
    best: tuple[CandidateScore, dict[str, Any]] | None = None
    for item in items:
        score = score_candidate(track, item)
        if score.title <= 0 or score.artists <= 0 or score.total < SEARCH_ACCEPT_THRESHOLD:
            continue
        if best is None or score.total > best[0].total:
            best = (score, item)
    if best is None:
        return None
    return MatchResult(item=best[1], score=best[0].total, method="search")


# -- extraction ------------------------------------------------------------------------------------------
def track_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """Columns from a TrackObject. Fields Dev-Mode apps don't get (popularity) are None when absent."""
    album = _album(item)
    urls = item.get("external_urls")
    artists = item.get("artists") or []
    return {
        "spotify_id": item.get("id"),
        "url": urls.get("spotify") if isinstance(urls, dict) else None,
        "name": item.get("name"),
        "isrc": _isrc_of(item),
        "album_id": album.get("id"),
        "album_name": album.get("name"),
        "album_type": album.get("album_type"),
        "release_date": album.get("release_date"),  # "YYYY", "YYYY-MM" or "YYYY-MM-DD"
        "release_date_precision": album.get("release_date_precision"),
        "duration_ms": item.get("duration_ms"),
        "explicit": item.get("explicit"),
        "popularity": item.get("popularity"),
        "artist_ids": [a["id"] for a in artists if isinstance(a, dict) and a.get("id")],
    }


def artist_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Columns from an ArtistObject. `genres`: None = not returned (unknown), [] = Spotify has none."""
    urls = obj.get("external_urls")
    genres = obj.get("genres")
    followers = obj.get("followers")
    return {
        "spotify_id": obj.get("id"),
        "name": obj.get("name"),
        "url": urls.get("spotify") if isinstance(urls, dict) else None,
        "genres": [g for g in genres if isinstance(g, str)] if isinstance(genres, list) else None,
        "popularity": obj.get("popularity"),
        "followers": followers.get("total") if isinstance(followers, dict) else None,
    }
