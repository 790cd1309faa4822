"""Track list filters: how they are checked and how keys are read, without a database."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from app.db.track_filters import KeyFilter, TrackFilters, TrackQueryError, parse_key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("8A", KeyFilter(camelot="8A")),
        (" 12b ", KeyFilter(camelot="12B")),
        ("A Minor", KeyFilter(key_name="A Minor")),
        ("F# minor", KeyFilter(key_name="Gb Minor")),  # Beatport spells black keys with flats
        ("Gb maj", KeyFilter(key_name="Gb Major")),
        ("e♭ MIN", KeyFilter(key_name="Eb Minor")),
    ],
)
def test_keys_are_read_as_camelot_codes_or_beatport_key_names(text: str, key: KeyFilter) -> None:
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["H Minor", "13A", "0B", "A Dorian", ""])
def test_other_keys_are_refused(text: str) -> None:
    with pytest.raises(TrackQueryError, match="neither a Camelot code") as raised:
        parse_key(text)
    assert raised.value.field == "key"


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"genre": "  "}, "genre", "genre must not be empty"),
        ({"isrc": ""}, "isrc", "isrc must not be empty"),
        ({"artist": "99999999999999999999"}, "artist", "artist id 99999999999999999999 is not a Beatport id"),
        ({"bpm_min": 130, "bpm_max": 120}, "bpm_min", "bpm_min (130) must not be greater than bpm_max (120)"),
        (
            {"published_from": dt.date(2026, 7, 2), "published_to": dt.date(2026, 7, 1)},
            "published_from",
            "must not be after published_to",
        ),
        ({"key": "H Minor"}, "key", "neither a Camelot code"),
    ],
)
def test_filters_that_cannot_be_used_are_refused_when_built(
    arguments: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(TrackQueryError, match=re.escape(message)) as raised:
        TrackFilters(**arguments)
    assert raised.value.field == field


def test_one_condition_per_given_filter() -> None:
    assert TrackFilters().conditions() == []
    given = TrackFilters(
        genre="tech-house", label="1", bpm_min=120, bpm_max=120, enriched=False, isrc="us-abc"
    )
    assert len(given.conditions()) == 6
