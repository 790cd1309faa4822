"""The filters of a track list: checked once, when built, and turned into SQL conditions on the tracks table."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, func, or_, select

from app.db.models import Artist, Genre, Label, Track, TrackArtist
from app.db.sort_keys import has_value

_T = Track.__table__
_TA = TrackArtist.__table__
_GT = Genre.__table__
_LT = Label.__table__
_AT = Artist.__table__

MAX_ID = 2**63 - 1  # ids are BIGINT


class TrackQueryError(ValueError):
    """A filter, sort or cursor that cannot be used; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_CAMELOT = re.compile(r"^(1[0-2]|[1-9])([AB])$", re.I)
_KEY_NAME = re.compile(r"^([A-G])([b#♭♯]?)\s*(major|minor|maj|min)$", re.I)
# Beatport spells black keys with flats ("Gb Minor"); accept the sharp spelling too.
_SHARP_TO_FLAT = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}
# The Camelot wheel: each key name, as Beatport spells it, and its code.
CAMELOT_OF_KEY = {
    f"{note} {mode}": f"{number}{letter}"
    for mode, letter, notes in (
        ("Minor", "A", ("Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "Gb", "Db")),
        ("Major", "B", ("B", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E")),
    )
    for number, note in enumerate(notes, start=1)
}


@dataclass(frozen=True, slots=True)
class KeyFilter:
    camelot: str | None = None  # "8A"
    key_name: str | None = None  # "A Minor", as Beatport spells it


def parse_key(value: str) -> KeyFilter:
    """A Camelot code ("8A", "12b") or a key name ("A Minor", "F# minor", "Gb maj")."""
    text = value.strip()
    camelot = _CAMELOT.match(text)
    if camelot:
        return KeyFilter(camelot=f"{int(camelot.group(1))}{camelot.group(2).upper()}")
    name = _KEY_NAME.match(text)
    if name:
        note = name.group(1).upper() + name.group(2).replace("♭", "b").replace("♯", "#")
        note = _SHARP_TO_FLAT.get(note, note)
        mode = "Major" if name.group(3).lower().startswith("maj") else "Minor"
        return KeyFilter(key_name=f"{note} {mode}")
    raise TrackQueryError(
        "key",
        f"key {value!r} is neither a Camelot code (1A-12B, e.g. 8A) nor a key name (e.g. 'A Minor', 'F# Major')",
    )


MatchMethod = Literal["isrc", "search", "manual", "none"]
MATCH_METHODS: tuple[str, ...] = get_args(MatchMethod)

_TEXT_FILTERS = ("genre", "label", "artist", "isrc", "key")
TRIGRAM_CHARS = 3  # pg_trgm's unit: shorter substrings cannot use the name indexes
_ID_FILTERS = ("genre", "label", "artist")  # all digits: a Beatport id


@dataclass(frozen=True)
class TrackFilters:
    """All optional; given ones are combined with AND.

    `genre`, `label` and `artist` that are all digits are Beatport ids; otherwise `genre` is a slug or name
    (case-insensitive) and `label`/`artist` a case-insensitive name substring. `artist` matches artists and
    remixers. `key` is a Camelot code or key name. `enriched`: whether the track has a Spotify match.
    Dates are inclusive. `match_method`: how the Spotify match was made (`none`: searched, nothing matched);
    `match_score_lt`: matches scored below this (tracks without a score never qualify).
    """

    genre: str | None = None
    label: str | None = None
    artist: str | None = None
    bpm_min: int | None = None
    bpm_max: int | None = None
    key: str | None = None
    isrc: str | None = None
    enriched: bool | None = None
    published_from: dt.date | None = None
    published_to: dt.date | None = None
    match_method: MatchMethod | None = None
    match_score_lt: float | None = None

    def __post_init__(self) -> None:
        for name in _TEXT_FILTERS:
            _check_text(name, getattr(self, name))
        if self.bpm_min is not None and self.bpm_max is not None and self.bpm_min > self.bpm_max:
            raise TrackQueryError(
                "bpm_min", f"bpm_min ({self.bpm_min}) must not be greater than bpm_max ({self.bpm_max})"
            )
        if (
            self.published_from is not None
            and self.published_to is not None
            and self.published_from > self.published_to
        ):
            raise TrackQueryError(
                "published_from",
                f"published_from ({self.published_from}) must not be after published_to ({self.published_to})",
            )
        if self.key is not None:
            parse_key(self.key)
        if self.match_method is not None and self.match_method not in MATCH_METHODS:
            raise TrackQueryError("match_method", f"match_method must be one of {', '.join(MATCH_METHODS)}")
        if self.match_score_lt is not None and not 0 <= self.match_score_lt <= 1:
            raise TrackQueryError("match_score_lt", "match_score_lt must be between 0 and 1")

    def count_is_unbounded(self) -> bool:
        """A label or artist name shorter than a trigram (3 characters) cannot use the trigram indexes: counting
        its matches visits every credit or label, however many pages are shown (0.6–1.1 s for a two-letter
        artist at a million tracks), so pages of it are not counted (app.db.track_queries)."""
        return any(
            (text := (getattr(self, name) or "").strip()) and not is_id(text) and len(text) < TRIGRAM_CHARS
            for name in ("label", "artist")
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        return [
            condition(value)
            for name, condition in _CONDITIONS.items()
            if (value := getattr(self, name)) is not None
        ]


def is_id(text: str) -> bool:
    """ASCII digits only ('²'.isdigit() is true, and int('²') fails), short enough for a BIGINT."""
    return text.isascii() and text.isdigit() and len(text) <= 19


def _check_text(name: str, value: str | None) -> None:
    if value is None:
        return
    text = value.strip()
    if not text:
        raise TrackQueryError(name, f"{name} must not be empty")
    if name in _ID_FILTERS and text.isascii() and text.isdigit() and (len(text) > 19 or int(text) > MAX_ID):
        raise TrackQueryError(name, f"{name} id {text[:30]} is not a Beatport id (too large)")


def _genre(value: str) -> ColumnElement[bool]:
    text = value.strip()
    if is_id(text):
        return _T.c.genre_id == int(text)
    wanted = text.lower()
    named = select(_GT.c.id).where(or_(func.lower(_GT.c.slug) == wanted, func.lower(_GT.c.name) == wanted))
    return _T.c.genre_id.in_(named)


def _label(value: str) -> ColumnElement[bool]:
    text = value.strip()
    if is_id(text):
        return _T.c.label_id == int(text)
    return _T.c.label_id.in_(select(_LT.c.id).where(_contains(_LT.c.name, text)))


def _artist(value: str) -> ColumnElement[bool]:
    """Credited as artist or remixer."""
    text = value.strip()
    credited = select(_TA.c.track_id)
    if is_id(text):
        credited = credited.where(_TA.c.artist_id == int(text))
    else:
        credited = credited.join(_AT, _AT.c.id == _TA.c.artist_id).where(_contains(_AT.c.name, text))
    return _T.c.id.in_(credited)


def _key(value: str) -> ColumnElement[bool]:
    """A key name is matched through its Camelot code, which is indexed (Beatport gives both for every key);
    a spelling off the wheel ("Cb Major") by name."""
    key = parse_key(value)
    name = key.key_name or ""
    camelot = key.camelot or CAMELOT_OF_KEY.get(name)
    if camelot is not None:
        return _T.c.camelot == camelot
    return func.lower(_T.c.key_name) == name.lower()


def _enriched(enriched: bool) -> ColumnElement[bool]:
    return _T.c.spotify_id.is_not(None) if enriched else _T.c.spotify_id.is_(None)


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match with LIKE wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition: ColumnElement[bool] = func.lower(column).like(f"%{escaped.lower()}%", escape="\\")
    return condition


# One condition per given filter, in this order. Ranges on bpm and publish_date also say "has a value", which
# they imply, so that the descending sort index (led by that flag) serves them (app.db.sort_keys).
_CONDITIONS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "genre": _genre,
    "label": _label,
    "artist": _artist,
    "bpm_min": lambda bpm: and_(has_value(_T.c.bpm), _T.c.bpm >= bpm),
    "bpm_max": lambda bpm: and_(has_value(_T.c.bpm), _T.c.bpm <= bpm),
    "key": _key,
    "isrc": lambda isrc: _T.c.isrc == re.sub(r"[\s-]", "", isrc).upper(),
    "enriched": _enriched,
    "published_from": lambda day: and_(has_value(_T.c.publish_date), _T.c.publish_date >= day),
    "published_to": lambda day: and_(has_value(_T.c.publish_date), _T.c.publish_date <= day),
    "match_method": lambda method: _T.c.spotify_match_method == method,
    "match_score_lt": lambda score: _T.c.spotify_match_score < score,
}
