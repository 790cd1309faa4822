"""Turn one Beatport v4 track object (page JSON or API) into a BeatportTrack; the value readers it uses.

Every field is treated as optional: a missing or odd value gives None, never an exception, except for a
track without an id or a name (ValueError: the caller skips that row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sources.beatport.entities import (
    BeatportArtist,
    BeatportGenre,
    BeatportLabel,
    BeatportRelease,
    BeatportTrack,
)


def as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value) if value == value else None  # NaN guard
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_str(value: Any) -> str | None:
    """Stripped text, with "" (and whitespace-only) as None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _date(value: Any) -> dt.date | None:
    # "2026-06-26"; the search service also uses "2020-10-21T00:00:00".
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _length_ms(obj: Mapping[str, Any]) -> int | None:
    ms = as_int(obj.get("length_ms"))
    if ms is not None:
        return ms
    length = obj.get("length")
    if not isinstance(length, str) or not length.strip():
        return None
    try:
        parts = [int(p) for p in length.strip().split(":")]
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
        return None
    seconds = 0
    for part in parts:  # "M:SS" or "H:MM:SS"
        seconds = seconds * 60 + part
    return seconds * 1000


def _image_uri(obj: Mapping[str, Any] | None) -> str | None:
    image = as_dict(obj.get("image")) if obj else None
    return as_str(image.get("uri")) if image else None


def _genre(value: Any) -> BeatportGenre | None:
    obj = as_dict(value)
    if obj is None:
        return None
    genre_id, name = as_int(obj.get("id")), as_str(obj.get("name"))
    if genre_id is None or name is None:
        return None
    return BeatportGenre(id=genre_id, name=name, slug=as_str(obj.get("slug")))


def _artists(value: Any) -> tuple[BeatportArtist, ...]:
    if not isinstance(value, list):
        return ()
    artists = []
    for item in value:
        if not isinstance(item, dict):
            continue
        artist_id, name = as_int(item.get("id")), as_str(item.get("name"))
        if artist_id is not None and name is not None:
            artists.append(BeatportArtist(id=artist_id, name=name, slug=as_str(item.get("slug"))))
    return tuple(artists)


def _label(value: Any) -> BeatportLabel | None:
    obj = as_dict(value)
    if obj is None:
        return None
    label_id, name = as_int(obj.get("id")), as_str(obj.get("name"))
    if label_id is None or name is None:
        return None
    return BeatportLabel(id=label_id, name=name, slug=as_str(obj.get("slug")), image_url=_image_uri(obj))


def _release(value: Any, fallback_label: Any = None) -> BeatportRelease | None:
    obj = as_dict(value)
    if obj is None:
        return None
    release_id, name = as_int(obj.get("id")), as_str(obj.get("name"))
    if release_id is None or name is None:
        return None
    return BeatportRelease(
        id=release_id,
        name=name,
        slug=as_str(obj.get("slug")),
        image_url=_image_uri(obj),  # cover art; the track's own `image` is the waveform
        label=_label(obj.get("label")) or _label(fallback_label),
    )


def _price(value: Any) -> tuple[Decimal | None, str | None]:
    obj = as_dict(value)
    if obj is None:
        return None, None
    raw = obj.get("value")
    amount: Decimal | None = None
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        try:
            amount = Decimal(str(raw))  # via str: 1.69 stays 1.69, not the float's binary expansion
        except InvalidOperation:
            amount = None
        if amount is not None and not amount.is_finite():
            amount = None
    return amount, as_str(obj.get("code"))


# ---------------------------------------------------------------------------------------------------------
# Track objects


def parse_track(obj: dict[str, Any]) -> BeatportTrack:
    """Map a v4 catalog track object (as embedded in pages and returned by api v4) to a BeatportTrack.

    Only `id` and `name` are required (ValueError otherwise); every other field may be missing or null.
    """
    track_id = as_int(obj.get("id"))
    name = as_str(obj.get("name"))
    if track_id is None or name is None:
        raise ValueError(f"Beatport track object without a numeric id and a name (id={obj.get('id')!r})")
    key = as_dict(obj.get("key"))
    camelot = None
    key_name = None
    if key is not None:
        key_name = as_str(key.get("name"))
        number, letter = as_int(key.get("camelot_number")), as_str(key.get("camelot_letter"))
        if number is not None and letter is not None:
            camelot = f"{number}{letter.upper()}"
    price_value, price_currency = _price(obj.get("price"))
    explicit = obj.get("is_explicit")
    # "subgenre" only appears in a hand-edited fixture, but accepting it costs nothing.
    sub_genre = obj.get("sub_genre") if "sub_genre" in obj else obj.get("subgenre")
    return BeatportTrack(
        id=track_id,
        name=name,
        mix_name=as_str(obj.get("mix_name")),
        slug=as_str(obj.get("slug")),
        artists=_artists(obj.get("artists")),
        remixers=_artists(obj.get("remixers")),
        bpm=as_int(obj.get("bpm")),
        key_name=key_name,
        camelot=camelot,
        genre=_genre(obj.get("genre")),
        sub_genre=_genre(sub_genre),
        release=_release(obj.get("release"), obj.get("label")),
        isrc=as_str(obj.get("isrc")),
        catalog_number=as_str(obj.get("catalog_number")),
        length_ms=_length_ms(obj),
        publish_date=_date(obj.get("publish_date")),
        new_release_date=_date(obj.get("new_release_date")),
        sample_url=as_str(obj.get("sample_url")),
        is_explicit=explicit if isinstance(explicit, bool) else None,
        price_value=price_value,
        price_currency=price_currency,
    )
