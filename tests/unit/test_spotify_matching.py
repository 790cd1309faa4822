"""Matching Beatport tracks to Spotify items: ISRC path, text-search fallback, field extraction."""

from __future__ import annotations

from typing import Any

import pytest

from app.services.spotify_matching import (
    SEARCH_ACCEPT_THRESHOLD,
    TrackToMatch,
    artist_fields,
    artist_name_keys,
    build_search_query,
    isrc_query,
    match_by_isrc,
    match_by_search,
    split_version,
    spotify_artist_name,
    track_fields,
)
from tests.fakes.spotify import load_fixture, make_track_item

ISRC = "GBXYZ2500042"
ARTISTS = ("Example Artist", "Second Example")
LENGTH_MS = 372_000  # Beatport length; the fixture item is 372 413 ms

NIGHT_DRIVE_EXTENDED = TrackToMatch(
    isrc=ISRC, title="Night Drive", mix_name="Extended Mix", artists=ARTISTS, duration_ms=LENGTH_MS
)


def item(name: str = "Night Drive - Extended Mix", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("artists", list(ARTISTS))
    kwargs.setdefault("duration_ms", 372_413)
    return make_track_item(name=name, **kwargs)


# -- ISRC path -------------------------------------------------------------------------------------------
def test_isrc_single_hit_from_recorded_fixture() -> None:
    items = load_fixture("search_track_isrc_one_hit.json")["tracks"]["items"]

    result = match_by_isrc(NIGHT_DRIVE_EXTENDED, items)

    assert result is not None
    assert result.method == "isrc"
    assert result.item["id"] == "4uLU6hMCjMI75M1A2tKUQC"
    assert result.score == 1.0


def test_isrc_comparison_ignores_case_and_requires_equality() -> None:
    ours = TrackToMatch(
        isrc="gbxyz2500042",
        title="Night Drive",
        mix_name="Extended Mix",
        artists=ARTISTS,
        duration_ms=LENGTH_MS,
    )
    other_isrc = item(isrc="GBXYZ2500043", track_id="other")

    assert match_by_isrc(ours, [other_isrc]) is None
    result = match_by_isrc(ours, [other_isrc, item(track_id="ours")])
    assert result is not None and result.item["id"] == "ours"


def test_isrc_several_hits_tie_breakers() -> None:
    candidates = [
        item(isrc="GBXYZ2500099", track_id="other-isrc"),  # perfect otherwise, but not our recording
        item("Night Drive - Original Mix", track_id="wrong-mix"),
        item(duration_ms=LENGTH_MS + 60_000, track_id="wrong-length"),
        item(
            track_id="compilation-earlier",
            album_type="compilation",
            album_name="Club Hits",
            release_date="2025-06-01",
        ),
        item(track_id="single-reissue", release_date="2026-02-20"),
        item(track_id="single-first", release_date="2025-09-12"),
        item(track_id="album", album_type="album", release_date="2025-01-01"),
    ]

    result = match_by_isrc(NIGHT_DRIVE_EXTENDED, candidates)

    # Title+mix, artists and duration agree for the last four; single/EP beats album and compilation
    # (even when those were released earlier), then the earliest single wins.
    assert result is not None
    assert result.item["id"] == "single-first"
    assert result.method == "isrc"


def test_isrc_prefers_matching_title_over_album_type() -> None:
    candidates = [
        item("Night Drive - Original Mix", track_id="single-wrong-mix"),
        item(track_id="compilation-right-mix", album_type="compilation"),
    ]
    result = match_by_isrc(NIGHT_DRIVE_EXTENDED, candidates)
    assert result is not None and result.item["id"] == "compilation-right-mix"


def test_isrc_zero_hits() -> None:
    assert (
        match_by_isrc(NIGHT_DRIVE_EXTENDED, load_fixture("search_track_zero_hits.json")["tracks"]["items"])
        is None
    )
    assert match_by_isrc(NIGHT_DRIVE_EXTENDED, []) is None
    no_isrc = TrackToMatch(isrc=None, title="Night Drive", mix_name=None, artists=ARTISTS, duration_ms=None)
    assert match_by_isrc(no_isrc, [item()]) is None


def test_isrc_collision_with_unrelated_recording_is_dropped() -> None:
    unrelated = item("Completely Different Song", artists=["Somebody Else"], duration_ms=200_000)
    assert match_by_isrc(NIGHT_DRIVE_EXTENDED, [unrelated]) is None


# -- text-search fallback --------------------------------------------------------------------------------
def test_search_query_shape_and_escaping() -> None:
    assert build_search_query(NIGHT_DRIVE_EXTENDED) == 'track:"Night Drive" artist:"Example Artist"'
    tricky = TrackToMatch(
        isrc=None,
        title='Say "Hi" (feat. Guest)',
        mix_name="Original Mix",
        artists=('DJ "Q"', "B"),
        duration_ms=None,
    )
    assert build_search_query(tricky) == 'track:"Say Hi" artist:"DJ Q"'
    assert isrc_query(" gbxyz2500042 ") == "isrc:GBXYZ2500042"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Night Drive - Extended Mix", ("Night Drive", "Extended Mix")),
        ("Night Drive (Extended Mix)", ("Night Drive", "Extended Mix")),
        ("Night Drive (feat. Guest) - Extended Mix", ("Night Drive", "Extended Mix")),
        ("Night Drive", ("Night Drive", "")),
        ("Part One - Part Two", ("Part One - Part Two", "")),  # not a version label: keep the title whole
    ],
)
def test_split_version(name: str, expected: tuple[str, str]) -> None:
    assert split_version(name) == expected


def test_search_accepts_spotify_dash_extended_mix() -> None:
    candidates = [item("Night Drive - Extended Mix", isrc="USABC2500001", track_id="hit")]
    result = match_by_search(NIGHT_DRIVE_EXTENDED, candidates)
    assert result is not None
    assert (result.item["id"], result.method) == ("hit", "search")
    assert result.score == 1.0


def test_search_accepts_plain_title_for_original_mix() -> None:
    ours = TrackToMatch(
        isrc=ISRC, title="Night Drive", mix_name="Original Mix", artists=ARTISTS, duration_ms=LENGTH_MS
    )
    result = match_by_search(ours, [item("Night Drive", track_id="plain")])
    assert result is not None and result.item["id"] == "plain"
    assert result.score == 1.0


def test_search_normalises_case_accents_punctuation_and_featuring() -> None:
    ours = TrackToMatch(
        isrc=None,
        title="Nuit Électrique",
        mix_name="Extended Mix",
        artists=("Beyoncé & Co",),
        duration_ms=300_000,
    )
    candidate = item(
        "NUIT ELECTRIQUE (feat. Someone) - Extended Mix",
        artists=["Beyonce and Co", "Someone"],
        duration_ms=301_500,
    )
    result = match_by_search(ours, [candidate])
    assert result is not None and result.score >= SEARCH_ACCEPT_THRESHOLD


def test_search_plain_title_for_extended_mix_needs_the_length_to_agree() -> None:
    # Spotify sometimes drops "Extended Mix"; a 3:30 plain title is then the radio edit, not our 6:12 track.
    same_length = item("Night Drive", track_id="same-length")
    radio_edit = item("Night Drive", track_id="radio-edit", duration_ms=210_000)

    assert match_by_search(NIGHT_DRIVE_EXTENDED, [radio_edit]) is None
    result = match_by_search(NIGHT_DRIVE_EXTENDED, [radio_edit, same_length])
    assert result is not None and result.item["id"] == "same-length"
    assert result.score < 1.0


@pytest.mark.parametrize(
    "candidate",
    [
        pytest.param(
            item("Night Drive - Extended Mix", artists=["Other Producer"]), id="same title, other artist"
        ),
        pytest.param(item("Night Drive - Jane Roe Remix"), id="different remix"),
        pytest.param(item("Night Drive - Extended Mix", duration_ms=372_413, artists=[]), id="no artists"),
        pytest.param(item("Night Rider - Extended Mix"), id="different title"),
    ],
)
def test_search_rejects_near_misses(candidate: dict[str, Any]) -> None:
    assert match_by_search(NIGHT_DRIVE_EXTENDED, [candidate]) is None


def test_search_rejects_original_when_we_want_a_remix() -> None:
    ours = TrackToMatch(
        isrc=None, title="Night Drive", mix_name="John Doe Remix", artists=ARTISTS, duration_ms=LENGTH_MS
    )
    assert match_by_search(ours, [item("Night Drive"), item("Night Drive - Jane Roe Remix")]) is None
    result = match_by_search(
        ours, [item("Night Drive"), item("Night Drive - John Doe Remix", track_id="remix")]
    )
    assert result is not None and result.item["id"] == "remix"


def test_search_picks_the_best_of_several_candidates() -> None:
    candidates = [
        item("Night Drive - Extended Mix", artists=["Other Producer"], track_id="other-artist"),
        item("Night Drive - Extended Mix", artists=["Example Artist"], track_id="one-artist"),
        item("Night Drive - Extended Mix", track_id="both-artists"),
    ]
    result = match_by_search(NIGHT_DRIVE_EXTENDED, candidates)
    assert result is not None and result.item["id"] == "both-artists"


# -- field extraction ------------------------------------------------------------------------------------
def test_track_fields_development_mode_shape() -> None:
    fields = track_fields(load_fixture("track_get.json"))
    assert fields == {
        "spotify_id": "4uLU6hMCjMI75M1A2tKUQC",
        "url": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
        "name": "Night Drive - Extended Mix",
        "isrc": "GBXYZ2500042",
        "album_id": "2pRk7sX1nY4wQ8dF6hJ3Lc",
        "album_name": "Night Drive",
        "album_type": "single",
        "release_date": "2025-09-12",
        "release_date_precision": "day",
        "duration_ms": 372413,
        "explicit": False,
        "popularity": None,  # removed for Development-Mode apps
        "artist_ids": ["3kQ9mZx2Lr7TnV4bWc8pYd", "5hJr2Ns8Qw1Xk6Pz0Lm3Vb"],
    }


def test_track_fields_extended_quota_shape_and_search_item() -> None:
    extended = track_fields(load_fixture("track_get_extended_quota.json"))
    assert extended["popularity"] == 41
    assert extended == {**track_fields(load_fixture("track_get.json")), "popularity": 41}
    search_item = load_fixture("search_track_isrc_one_hit.json")["tracks"]["items"][0]
    assert track_fields(search_item) == track_fields(load_fixture("track_get.json"))


def test_artist_fields_genres_present_absent_and_empty() -> None:
    with_genres = artist_fields(load_fixture("artist_get.json"))
    assert with_genres == {
        "spotify_id": "3kQ9mZx2Lr7TnV4bWc8pYd",
        "name": "Example Artist",
        "url": "https://open.spotify.com/artist/3kQ9mZx2Lr7TnV4bWc8pYd",
        "genres": ["melodic techno", "progressive house"],
        "popularity": None,
        "followers": None,
    }
    assert artist_fields(load_fixture("artist_get_no_genres.json"))["genres"] is None  # unknown
    assert artist_fields({**load_fixture("artist_get.json"), "genres": []})["genres"] == []  # not classified
    extended = artist_fields(load_fixture("artist_get_extended_quota.json"))
    assert (extended["popularity"], extended["followers"]) == (47, 18234)


@pytest.mark.parametrize(
    ("beatport", "spotify"),
    [
        ("Chico Rose (NL)", "Chico Rose"),
        ("GENESI (ITA)", "GENESI"),
        ("Ajna (BE) ", "Ajna"),
        ("(NL)", "(NL)"),  # nothing left without the suffix: keep the name as it is
        ("Chris Lorenzo", "Chris Lorenzo"),
        ("Artist (Live Band)", "Artist (Live Band)"),  # not a country-code suffix
    ],
)
def test_spotify_artist_name_drops_beatports_disambiguation_suffix(beatport: str, spotify: str) -> None:
    assert spotify_artist_name(beatport) == spotify


def test_artist_name_keys_match_with_and_without_the_suffix() -> None:
    assert artist_name_keys("Ajna (BE)") == ["ajna be", "ajna"]
    assert artist_name_keys("Chico Rose feat. Someone") == ["chico rose"]
    assert artist_name_keys("Röyksopp") == ["royksopp"]
    assert artist_name_keys("  ") == []
