"""Beatport targets: URL/path parsing, canonical paths, genre shorthand and the genre list."""

from __future__ import annotations

import re

import pytest

from app.errors import InvalidTargetError
from app.sources.beatport.entities import TargetKind
from app.sources.beatport.genres import GENRES, genre_by_id, genre_by_name, genre_by_slug
from app.sources.beatport.targets import (
    SUPPORTED_KINDS_HELP,
    Target,
    chart_target,
    genre_target,
    parse_target,
)

K = TargetKind

VALID_TARGETS: list[tuple[str, TargetKind, int | None, str | None]] = [
    # genre Top 100
    ("https://www.beatport.com/genre/tech-house/11/top-100", K.GENRE_TOP100, 11, "tech-house"),
    ("http://www.beatport.com/genre/tech-house/11/top-100/", K.GENRE_TOP100, 11, "tech-house"),
    ("https://beatport.com/genre/tech-house/11/top-100", K.GENRE_TOP100, 11, "tech-house"),
    ("www.beatport.com/genre/afro-house/89/top-100", K.GENRE_TOP100, 89, "afro-house"),
    ("https://www.beatport.com/de/genre/tech-house/11/top-100", K.GENRE_TOP100, 11, "tech-house"),
    ("/fr/genre/melodic-house-techno/90/top-100?page=1", K.GENRE_TOP100, 90, "melodic-house-techno"),
    ("/genre/tech-house/11/top-100", K.GENRE_TOP100, 11, "tech-house"),
    ("genre/tech-house/11/top-100", K.GENRE_TOP100, 11, "tech-house"),
    ("  /genre/tech-house/11/top-100  ", K.GENRE_TOP100, 11, "tech-house"),
    ("/genre/_/6/top-100", K.GENRE_TOP100, 6, "techno-peak-time-driving"),  # slug filled from the list
    ("/genre/whatever/11/top-100", K.GENRE_TOP100, 11, "tech-house"),  # the id decides; canonical slug
    ("/genre/tech-house/11", K.GENRE_TOP100, 11, "tech-house"),  # landing page (the genre menu's link)
    ("/genre/new-genre/250/top-100", K.GENRE_TOP100, 250, "new-genre"),  # genres not in our list still work
    ("https://www.beatport.com/GENRE/Tech-House/11/TOP-100", K.GENRE_TOP100, 11, "tech-house"),
    # overall Top 100
    ("https://www.beatport.com/top-100", K.TOP100, None, None),
    ("https://www.beatport.com/top-100/", K.TOP100, None, None),
    ("/ja/top-100", K.TOP100, None, None),
    ("top-100?utm_source=x#frag", K.TOP100, None, None),
    # chart
    ("https://www.beatport.com/chart/tech-house-heat/900123", K.CHART, 900123, "tech-house-heat"),
    ("/es/chart/tech-house-heat/900123/?foo=bar", K.CHART, 900123, "tech-house-heat"),
    ("/chart/_/900123", K.CHART, 900123, None),
    # release
    ("https://www.beatport.com/release/the-reckoning/3371021", K.RELEASE, 3371021, "the-reckoning"),
    ("/it/release/flex-cardio/7075608/", K.RELEASE, 7075608, "flex-cardio"),
    # track
    ("https://www.beatport.com/track/stay-sexy/29386531", K.TRACK, 29386531, "stay-sexy"),
    ("/pt/track/concussion/194481?x=1", K.TRACK, 194481, "concussion"),
    ("/track/ti%C3%ABsto-mix/5", K.TRACK, 5, "tiësto-mix"),  # percent-encoded slugs are decoded
    # label tracks
    (
        "https://www.beatport.com/label/hellbent-records/101510/tracks",
        K.LABEL_TRACKS,
        101510,
        "hellbent-records",
    ),
    ("/label/hellbent-records/101510/tracks?page=2&per_page=150", K.LABEL_TRACKS, 101510, "hellbent-records"),
    ("/nl/label/_/101510/tracks/", K.LABEL_TRACKS, 101510, None),
    ("/label/hellbent-records/101510", K.LABEL_TRACKS, 101510, "hellbent-records"),  # label landing page
    # artist tracks
    ("https://www.beatport.com/artist/chris-lorenzo/298551/tracks", K.ARTIST_TRACKS, 298551, "chris-lorenzo"),
    ("/artist/_/298551/tracks?per-page=50&page=3", K.ARTIST_TRACKS, 298551, None),
    ("/de/artist/chris-lorenzo/298551", K.ARTIST_TRACKS, 298551, "chris-lorenzo"),
]


@pytest.mark.parametrize(("given", "kind", "target_id", "slug"), VALID_TARGETS)
def test_parse_target_accepts(given: str, kind: TargetKind, target_id: int | None, slug: str | None) -> None:
    assert parse_target(given) == Target(kind, target_id, slug)


INVALID_TARGETS: list[tuple[str, str]] = [
    ("", "empty"),
    ("   ", "empty"),
    ("https://www.example.com/genre/tech-house/11/top-100", "www.example.com"),
    ("https://api.beatport.com/v4/catalog/tracks/1/", "api.beatport.com"),
    ("https://www.beatport.com.evil.net/top-100", "www.beatport.com.evil.net"),
    ("ftp://www.beatport.com/top-100", "ftp"),
    ("https://www.beatport.com/", "no page path"),
    ("/de/", "no page path"),
    ("/search?q=noisia", "/search/"),
    ("/playlists/share/123", "/playlists/"),
    ("/genre/tech-house/eleven/top-100", "'eleven'"),
    ("/track/stay-sexy/29386531x", "'29386531x'"),
    ("/track/stay-sexy/0", "'0'"),
    ("/chart/-5", "expected /chart/<slug>/<id>"),
    ("/track/stay-sexy", "expected /track/<slug>/<id>"),
    ("/genre/tech-house/11/hype-100", "hype-100"),
    ("/label/drumcode/1/releases", "releases"),
    ("/release/x/1/tracks", "tracks"),
    ("/top-100/extra", "/top-100/"),
]


@pytest.mark.parametrize(("given", "mentions"), INVALID_TARGETS)
def test_parse_target_rejects_with_help(given: str, mentions: str) -> None:
    with pytest.raises(InvalidTargetError) as caught:
        parse_target(given)
    message = str(caught.value)
    assert mentions in message
    assert SUPPORTED_KINDS_HELP in message
    assert repr(given) in message


def test_help_names_every_kind_with_an_example() -> None:
    for example in (
        "/genre/tech-house/11/top-100",
        "/top-100",
        "/chart/<slug>/<id>",
        "/release/<slug>/<id>",
        "/track/<slug>/<id>",
        "/label/<slug>/<id>/tracks",
        "/artist/<slug>/<id>/tracks",
    ):
        assert example in SUPPORTED_KINDS_HELP


def test_invalid_target_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Unsupported Beatport target"):
        parse_target("https://soundcloud.com/x")


# ---- canonical paths -------------------------------------------------------------------------------------

PATHS: list[tuple[Target, int, int | None, str]] = [
    (Target(K.GENRE_TOP100, 11, "tech-house"), 1, None, "/genre/tech-house/11/top-100"),
    (Target(K.GENRE_TOP100, 11, None), 1, None, "/genre/_/11/top-100"),
    (Target(K.TOP100, None, None), 1, None, "/top-100"),
    (Target(K.CHART, 900123, "tech-house-heat"), 1, None, "/chart/tech-house-heat/900123"),
    (Target(K.CHART, 900123, None), 1, None, "/chart/_/900123"),
    (Target(K.CHART, 900123, None), 2, None, "/chart/_/900123?page=2"),
    (Target(K.RELEASE, 7075608, "flex-cardio"), 1, None, "/release/flex-cardio/7075608"),
    (Target(K.TRACK, 29386531, "stay-sexy"), 1, None, "/track/stay-sexy/29386531"),
    (Target(K.TRACK, 5, "tiësto mix"), 1, None, "/track/ti%C3%ABsto%20mix/5"),
    (Target(K.LABEL_TRACKS, 101510, "hellbent-records"), 1, None,
     "/label/hellbent-records/101510/tracks?page=1&per_page=150"),
    (Target(K.LABEL_TRACKS, 101510, None), 3, None, "/label/_/101510/tracks?page=3&per_page=150"),
    (Target(K.ARTIST_TRACKS, 298551, "chris-lorenzo"), 2, 50,
     "/artist/chris-lorenzo/298551/tracks?page=2&per_page=50"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "page", "per_page", "expected"), PATHS)
def test_path(target: Target, page: int, per_page: int | None, expected: str) -> None:
    assert target.path(page, per_page) == expected


@pytest.mark.parametrize(("given", "kind", "target_id", "slug"), VALID_TARGETS)
def test_path_round_trips_through_parse_target(
    given: str, kind: TargetKind, target_id: int | None, slug: str | None
) -> None:
    target = parse_target(given)
    assert parse_target(target.path()) == target
    assert parse_target("https://www.beatport.com" + target.path(page=2)) == target


def test_path_rejects_page_zero() -> None:
    with pytest.raises(ValueError, match="page must be >= 1"):
        Target(K.CHART, 1, None).path(0)


def test_target_validates_its_id() -> None:
    with pytest.raises(ValueError, match="positive id"):
        Target(K.TRACK, None, "x")
    with pytest.raises(ValueError, match="no id"):
        Target(K.TOP100, 1, None)


@pytest.mark.parametrize(
    ("target", "paginated", "chart_key"),
    [
        (Target(K.GENRE_TOP100, 11, "tech-house"), False, "genre-top-100-11"),
        (Target(K.TOP100, None, None), False, "top-100"),
        (Target(K.CHART, 900123, "x"), False, "chart-900123"),
        (Target(K.RELEASE, 1, "x"), False, None),
        (Target(K.TRACK, 1, "x"), False, None),
        (Target(K.LABEL_TRACKS, 1, "x"), True, None),
        (Target(K.ARTIST_TRACKS, 1, "x"), True, None),
    ],
)
def test_paginated_and_chart_key(target: Target, paginated: bool, chart_key: str | None) -> None:
    assert target.paginated is paginated
    assert target.chart_key == chart_key


def test_chart_key_ignores_slug() -> None:
    assert parse_target("/genre/_/11/top-100").chart_key == parse_target("/genre/tech-house/11").chart_key


@pytest.mark.parametrize(
    ("spellings", "key", "kind"),
    [
        (
            ["/de/genre/a/11/top-100", "/genre/b/11/top-100", "https://www.beatport.com/fr/genre/_/11"],
            "genre-top-100-11",
            "genre-top-100",
        ),
        (["/top-100", "/de/top-100", "https://beatport.com/top-100/"], "top-100", "top-100"),
        (
            ["/chart/a/900123", "/es/chart/b/900123", "www.beatport.com/chart/_/900123"],
            "chart-900123",
            "chart",
        ),
    ],
)
def test_chart_key_is_url_safe_and_one_per_chart(spellings: list[str], key: str, kind: str) -> None:
    targets = [parse_target(spelling) for spelling in spellings]
    assert {t.chart_key for t in targets} == {key}
    assert {t.chart_kind for t in targets} == {kind}
    assert re.fullmatch(r"[a-z0-9-]+", key)
    again = chart_target(key)  # the key names the chart it came from
    assert again is not None and again.chart_key == key and again.kind is targets[0].kind


def test_chart_target_fills_a_known_genres_slug_and_refuses_other_text() -> None:
    assert chart_target("genre-top-100-11") == Target(K.GENRE_TOP100, 11, "tech-house")
    assert chart_target("genre-top-100-9999") == Target(K.GENRE_TOP100, 9999, None)
    assert chart_target("chart-900123") == Target(K.CHART, 900123, None)
    for text in (
        "x",
        "chart-0",
        "chart-01",
        "genre-top100:11",
        "top100",
        "chart:900123",
        "release-1",
        "chart-",
    ):
        assert chart_target(text) is None, text
    assert Target(K.RELEASE, 1, "x").chart_kind is None


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (Target(K.GENRE_TOP100, 11, "tech-house"), "Tech House Top 100 (genre 11)"),
        (Target(K.GENRE_TOP100, 250, "new-genre"), "new genre Top 100 (genre 250)"),
        (Target(K.TOP100, None, None), "Beatport Top 100"),
        (Target(K.CHART, 900123, "tech-house-heat"), 'chart "tech house heat" (900123)'),
        (Target(K.RELEASE, 7075608, None), "release 7075608"),
        (Target(K.TRACK, 29386531, "stay-sexy"), 'track "stay sexy" (29386531)'),
        (Target(K.LABEL_TRACKS, 101510, "hellbent-records"), 'tracks of label "hellbent records" (101510)'),
        (Target(K.ARTIST_TRACKS, 298551, None), "tracks of artist 298551"),
    ],
)
def test_describe(target: Target, text: str) -> None:
    assert target.describe() == text


# ---- genre shorthand -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "genre_id", "slug"),
    [
        ("tech-house", 11, "tech-house"),
        ("Tech-House ", 11, "tech-house"),
        (11, 11, "tech-house"),
        ("11", 11, "tech-house"),
        (" 90 ", 90, "melodic-house-techno"),
        ("140-deep-dubstep-grime", 95, "140-deep-dubstep-grime"),
        ("rb", 108, "rb"),
        ("Melodic House & Techno", 90, "melodic-house-techno"),  # display names work too
    ],
)
def test_genre_target(given: str | int, genre_id: int, slug: str) -> None:
    target = genre_target(given)
    assert target == Target(K.GENRE_TOP100, genre_id, slug)
    assert target.path() == f"/genre/{slug}/{genre_id}/top-100"


@pytest.mark.parametrize("given", ["techhouse", "", "4", 4, 0, "-11", "tech house top 100", 999])
def test_genre_target_unknown(given: str | int) -> None:
    with pytest.raises(InvalidTargetError) as caught:
        genre_target(given)
    message = str(caught.value)
    assert repr(given) in message
    assert "one of the 46 Beatport genre slugs or ids, e.g. tech-house (11)" in message


def test_genre_target_rejects_bool() -> None:
    with pytest.raises(InvalidTargetError):
        genre_target(True)


def test_genre_list() -> None:
    assert len(GENRES) == 46
    assert len({g.id for g in GENRES}) == 46
    assert len({g.slug for g in GENRES}) == 46
    assert genre_by_id(11) is not None and genre_by_id(11) == genre_by_slug("tech-house")
    named = {g.id: g.name for g in GENRES}
    assert named[6] == "Techno (Peak Time / Driving)"
    assert named[90] == "Melodic House & Techno"
    assert named[95] == "140 / Deep Dubstep / Grime"
    assert named[39] == "Dance / Pop"
    assert named[108] == "R&B"
    assert genre_by_id(4) is None
    assert genre_by_slug("nope") is None
    assert genre_by_name("r&b") == genre_by_id(108)


def test_a_target_is_the_same_work_however_it_is_spelled() -> None:
    assert parse_target("/chart/a/1").identity() == parse_target("/chart/b/1").identity()
    assert (
        parse_target("/de/genre/tech-house/11/top-100").identity()
        == parse_target("/genre/x/11/top-100").identity()
    )
    assert parse_target("/chart/a/1").identity() != parse_target("/chart/a/2").identity()
    assert parse_target("/release/a/1").identity() != parse_target("/chart/a/1").identity()
    # The page limit only matters where there are pages.
    assert parse_target("/release/a/1").identity(3) == parse_target("/release/a/1").identity(7)
    assert parse_target("/label/a/1/tracks").identity(3) != parse_target("/label/b/1/tracks").identity(7)
    assert parse_target("/label/a/1/tracks").identity(3) == parse_target("/label/b/1/tracks").identity(3)
