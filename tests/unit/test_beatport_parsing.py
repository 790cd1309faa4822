"""Beatport page parsing against the real captures and the pages built from them (tests/fixtures/beatport)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.errors import PermanentSourceError, TransientSourceError
from app.sources.beatport.entities import (
    BeatportArtist,
    BeatportGenre,
    BeatportLabel,
    BeatportRelease,
    BeatportTrack,
    TargetKind,
)
from app.sources.beatport.parsing import extract_next_data, parse_html, parse_page, parse_track
from tests.fakes.beatport import ID_OFFSET_STEP, FakeBeatport, top100_with_ids_offset
from tests.fixtures.beatport import (
    ARTIST_TRACKS_HTML,
    BROKEN_JSON_HTML,
    CHALLENGE_HTML,
    CHANGED_HTML,
    CHART_HTML,
    GENRE_TOP100_HTML,
    LABEL_TRACKS_HTML,
    RELEASE_HTML,
    RELEASE_TRIMMED_JSON,
    TOP100_HTML,
    TRACK_HTML,
    TRACK_NEXT_DATA_ENDPOINT_JSON,
    TRACK_TRIMMED_JSON,
    genre_top100_html,
    genre_top100_next_data,
    genre_top100_tracks,
    load_json,
    load_text,
    next_data_of,
    render_page,
)

K = TargetKind
GENRE_URL = "https://www.beatport.com/genre/tech-house/11/top-100"
BUILD_ID = "7-KqEafwhJa5IwPaEtVHs"


def _real_track(track_id: int) -> dict[str, Any]:
    return next(t for t in genre_top100_tracks() if t["id"] == track_id)


def _genre_page() -> Any:
    return parse_html(genre_top100_html(), kind=K.GENRE_TOP100, url=GENRE_URL)


# ---- the real 2026-07 genre Top 100 --------------------------------------------------------------------


def test_stay_sexy_every_field_matches_the_capture() -> None:
    """Track 29386531 (README section 3): every BeatportTrack field against the JSON in the page."""
    raw = _real_track(29386531)
    track = _genre_page().tracks[0]
    assert track == BeatportTrack(
        id=29386531,
        name="Stay Sexy",
        mix_name="Extended Mix",
        slug="stay-sexy",
        artists=(
            BeatportArtist(433695, "Mili", "mili"),
            BeatportArtist(484708, "HUGEL", "hugel"),
            BeatportArtist(642174, "LaBritney", "labritney"),
        ),
        remixers=(),
        bpm=124,
        key_name="Db Major",
        camelot="3B",
        genre=BeatportGenre(11, "Tech House", "tech-house"),
        sub_genre=None,
        release=BeatportRelease(
            id=7090764,
            name="Twenty One (Extended Version)",
            slug="twenty-one-extended-version",
            image_url="https://geo-media.beatport.com/image_size/1400x1400/147b990b-5790-4617-9e45-82cd52939f33.jpg",
            label=BeatportLabel(
                id=116032,
                name="Make The Girls Dance Records",
                slug="make-the-girls-dance-records",
                image_url="https://geo-media.beatport.com/image_size/500x500/29c60ccf-3c7b-4180-ad32-7d6048da2921.jpg",
            ),
        ),
        isrc="CH7812674982",
        catalog_number="BTPRT377723",
        length_ms=348870,
        publish_date=dt.date(2026, 6, 26),
        new_release_date=dt.date(2026, 6, 26),
        sample_url="https://geo-samples.beatport.com/track/925e722e-9ea9-4aa2-b2ca-20bb15e210c1.LOFI.mp3",
        is_explicit=True,
        price_value=Decimal("1.69"),
        price_currency="USD",
    )
    # The same values, read straight from the JSON, so the literal above cannot drift from the capture.
    assert track.id == raw["id"] and track.name == raw["name"] and track.mix_name == raw["mix_name"]
    assert [(a.id, a.name, a.slug) for a in track.artists] == [
        (a["id"], a["name"], a["slug"]) for a in raw["artists"]
    ]
    assert track.bpm == raw["bpm"] and track.key_name == raw["key"]["name"]
    assert track.camelot == f"{raw['key']['camelot_number']}{raw['key']['camelot_letter']}"
    assert track.release is not None and track.release.image_url == raw["release"]["image"]["uri"]
    assert track.release.image_url != raw["image"]["uri"]  # the track's own image is the waveform
    assert track.label == track.release.label
    assert track.label is not None and track.label.id == raw["release"]["label"]["id"]
    assert track.isrc == raw["isrc"] and track.catalog_number == raw["catalog_number"]
    assert track.length_ms == raw["length_ms"] and track.sample_url == raw["sample_url"]
    assert track.publish_date == dt.date.fromisoformat(raw["publish_date"])
    assert track.new_release_date == dt.date.fromisoformat(raw["new_release_date"])
    assert track.is_explicit is raw["is_explicit"]
    assert (
        track.price_value == Decimal(str(raw["price"]["value"]))
        and track.price_currency == raw["price"]["code"]
    )


def test_genre_page_envelope_and_positions() -> None:
    page = _genre_page()
    raw = genre_top100_tracks()
    assert page.kind is K.GENRE_TOP100
    assert len(page.tracks) == 100
    assert [t.id for t in page.tracks] == [t["id"] for t in raw]
    assert page.positions == tuple(range(1, 101))
    assert page.title == "Tech House"
    assert (page.total_count, page.page, page.per_page) == (100, 1, 100)
    assert page.build_id == BUILD_ID
    assert page.extra["query_key"] == "genre-11-top-100-tracks-per_page=100&hype=false"
    assert page.tracks[99].id == 28473961


def test_all_100_tracks_match_their_json() -> None:
    for track, raw in zip(_genre_page().tracks, genre_top100_tracks(), strict=True):
        assert track.name == raw["name"].strip()
        assert track.bpm == raw["bpm"]
        assert track.isrc == raw["isrc"]
        assert track.key_name == raw["key"]["name"]
        assert track.length_ms == raw["length_ms"]
        assert track.genre is not None and track.genre.id == raw["genre"]["id"]
        assert track.release is not None and track.release.id == raw["release"]["id"]
        assert track.label is not None and track.label.name == raw["release"]["label"]["name"]
        assert [a.id for a in track.artists] == [a["id"] for a in raw["artists"]]
        assert [a.id for a in track.remixers] == [a["id"] for a in raw["remixers"]]
        assert track.price_currency == "USD" and track.price_value is not None


def test_remixers_sub_genre_and_whitespace_from_the_capture() -> None:
    by_id = {t.id: t for t in _genre_page().tracks}
    pam_pam = by_id[26816077]
    assert pam_pam.mix_name == "Panna (BR) Extended Remix"
    assert [(r.id, r.name) for r in pam_pam.remixers] == [
        (r["id"], r["name"]) for r in _real_track(26816077)["remixers"]
    ]
    assert pam_pam.remixers[0].name == "Panna (BR)"
    assert by_id[20564331].sub_genre == BeatportGenre(257, "Latin Tech", "latin-tech")
    assert _real_track(28586911)["name"] == "Mi Combi "
    assert by_id[28586911].name == "Mi Combi"  # surrounding whitespace dropped


def test_bytes_and_str_give_the_same_page() -> None:
    html = genre_top100_html()
    assert parse_html(html.encode(), kind=K.GENRE_TOP100, url=GENRE_URL) == _genre_page()


def test_queries_are_chosen_by_key_not_index() -> None:
    data = genre_top100_next_data()
    queries = data["props"]["pageProps"]["dehydratedState"]["queries"]
    queries.reverse()  # the genre-11 entity query first now
    del data["props"]["pageProps"]["genre"]  # title then comes from the genre-11 query
    page = parse_page(data, kind=K.GENRE_TOP100, url=GENRE_URL)
    assert len(page.tracks) == 100 and page.title == "Tech House"


# ---- null / missing fields ------------------------------------------------------------------------------


def test_nulls_and_missing_fields_are_tolerated() -> None:
    raw = _real_track(29386531)
    raw.update(key=None, sub_genre=None, isrc="", bpm=None, price=None, catalog_number="  ", mix_name="")
    raw["release"]["image"] = None
    raw["release"]["label"] = None
    raw["artists"].append({"id": None, "name": "no id"})  # dropped, not fatal
    for name in ("length_ms", "is_explicit", "sample_url", "new_release_date"):
        del raw[name]
    raw["publish_date"] = "not a date"
    track = parse_track(raw)
    assert track.id == 29386531 and track.name == "Stay Sexy"
    assert (track.key_name, track.camelot, track.sub_genre, track.isrc, track.bpm) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (track.price_value, track.price_currency, track.catalog_number, track.mix_name) == (
        None,
        None,
        None,
        None,
    )
    assert track.length_ms == 348000  # from "5:48"
    assert (track.is_explicit, track.sample_url, track.publish_date, track.new_release_date) == (None,) * 4
    assert track.release == BeatportRelease(
        7090764, "Twenty One (Extended Version)", "twenty-one-extended-version"
    )
    assert track.label is None
    assert [a.name for a in track.artists] == ["Mili", "HUGEL", "LaBritney"]


def test_minimal_track_object() -> None:
    track = parse_track({"id": 1, "name": "Only", "release": None, "artists": None, "genre": None})
    assert track == BeatportTrack(id=1, name="Only")
    assert track.label is None


@pytest.mark.parametrize(
    ("length", "expected"), [("5:48", 348000), ("1:02:03", 3723000), ("", None), ("x:1", None), (None, None)]
)
def test_length_fallback(length: str | None, expected: int | None) -> None:
    assert parse_track({"id": 1, "name": "n", "length": length}).length_ms == expected


def test_key_without_camelot_keeps_name() -> None:
    track = parse_track({"id": 1, "name": "n", "key": {"name": "F Minor", "camelot_number": None}})
    assert (track.key_name, track.camelot) == ("F Minor", None)


@pytest.mark.parametrize(
    "obj", [{"name": "no id"}, {"id": "abc", "name": "x"}, {"id": 5}, {"id": 5, "name": " "}]
)
def test_track_without_id_or_name_is_rejected(obj: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="without a numeric id and a name"):
        parse_track(obj)


def test_a_malformed_row_is_skipped_without_shifting_positions() -> None:
    data = genre_top100_next_data()
    results = data["props"]["pageProps"]["dehydratedState"]["queries"][0]["state"]["data"]["results"]
    results[1] = {"id": None, "name": "broken", "artists": []}
    page = parse_page(data, kind=K.GENRE_TOP100, url=GENRE_URL)
    assert len(page.tracks) == 99
    assert page.positions is not None and page.positions[:3] == (1, 3, 4)
    assert page.extra["skipped_indices"] == [1]


# ---- other real captures --------------------------------------------------------------------------------


def test_trimmed_track_capture() -> None:
    page = parse_page(
        load_json(TRACK_TRIMMED_JSON), kind=K.TRACK, url="https://www.beatport.com/track/dub-power/15214756"
    )
    assert page.kind is K.TRACK and page.title == "Dub Power" and page.build_id is None
    (track,) = page.tracks
    assert track == BeatportTrack(
        id=15214756,
        name="Dub Power",
        mix_name="Original Mix",
        slug="dub-power",
        artists=(BeatportArtist(12258, "Surge", "surge"),),
        bpm=88,
        key_name="F Minor",
        camelot="4A",
        genre=BeatportGenre(95, "140 / Deep Dubstep / Grime", "140-deep-dubstep-grime"),
        release=BeatportRelease(
            id=3371021,
            name="The Reckoning",
            slug="the-reckoning",
            image_url="https://geo-media.beatport.com/image_size/500x500/956d981a-b1ba-48d3-837a-54d9fbd19fb6.jpg",
            label=BeatportLabel(
                24198,
                "Artikal Music UK",
                "artikal-music-uk",
                "https://geo-media.beatport.com/image_size/500x500/f84b01ac-8aae-45b4-949f-2962159da6a1.jpg",
            ),
        ),
        isrc="GB9Q62100009",
        catalog_number="ARTKL056",
        length_ms=322290,
        publish_date=dt.date(2021, 5, 28),
        new_release_date=dt.date(2021, 5, 28),
        sample_url="https://geo-samples.beatport.com/track/fb10762d-98bb-4642-ac04-92f539b9ac40.LOFI.mp3",
    )


def test_next_data_endpoint_track_capture_2023() -> None:
    """The /_next/data/<build>/en/track/_/194481.json body: {pageProps, __N_SSP}, no props wrapper."""
    data = load_json(TRACK_NEXT_DATA_ENDPOINT_JSON)
    raw = data["pageProps"]["track"]
    page = parse_page(data, kind=K.TRACK, url="https://www.beatport.com/track/concussion/194481")
    (track,) = page.tracks
    assert page.title == "Concussion" and page.build_id is None and page.positions is None
    assert (track.id, track.name, track.mix_name, track.slug) == (
        194481,
        "Concussion",
        "Original Mix",
        "concussion",
    )
    assert track.artists == (BeatportArtist(912, "Noisia", "noisia"),)
    assert (track.bpm, track.key_name, track.camelot) == (86, "F Minor", "4A")
    assert track.genre == BeatportGenre(1, "Drum & Bass", "drum-bass")
    assert track.release is not None
    assert (track.release.id, track.release.name) == (33448, "The Tide / Concussion")
    assert track.release.image_url == raw["release"]["image"]["uri"]
    assert track.label == BeatportLabel(
        3040, "Vision Recordings", "vision-recordings", raw["release"]["label"]["image"]["uri"]
    )
    assert (track.isrc, track.catalog_number, track.length_ms) == ("NLCK40700053", "VSN001", 334883)
    assert (track.publish_date, track.new_release_date) == (dt.date(2005, 11, 14), dt.date(2005, 11, 14))
    assert (track.price_value, track.price_currency) == (Decimal("1.39"), "EUR")
    assert track.is_explicit is None  # the 2023 objects predate is_explicit
    assert track.sample_url == raw["sample_url"]
    # pageProps.track alone (no dehydrated query) gives the same track.
    del data["pageProps"]["dehydratedState"]
    assert parse_page(data, kind=K.TRACK, url="u").tracks == (track,)


def test_trimmed_release_capture_has_no_tracks_query() -> None:
    url = "https://www.beatport.com/release/the-reckoning/3371021"
    with pytest.raises(PermanentSourceError) as caught:
        parse_page(load_json(RELEASE_TRIMMED_JSON), kind=K.RELEASE, url=url)
    message = str(caught.value)
    assert url in message and "no tracks query" in message and "'release-3371021'" in message


# ---- pages built from real track objects ----------------------------------------------------------------


def test_built_overall_top100() -> None:
    page = parse_html(load_text(TOP100_HTML), kind=K.TOP100, url="https://www.beatport.com/top-100")
    genre_ids = [t["id"] for t in genre_top100_tracks()]
    assert [t.id for t in page.tracks] == genre_ids[::-1]
    assert page.positions == tuple(range(1, 101))
    assert page.title == "Beatport Top 100" and page.build_id == BUILD_ID
    assert (page.total_count, page.page, page.per_page) == (100, 1, 100)


def test_built_chart_is_selected_by_shape() -> None:
    page = parse_html(
        load_text(CHART_HTML), kind=K.CHART, url="https://www.beatport.com/chart/tech-house-heat/900123"
    )
    data = next_data_of(load_text(CHART_HTML))
    queries = data["props"]["pageProps"]["dehydratedState"]["queries"]
    expected = [t["id"] for t in queries[2]["state"]["data"]["results"]]
    assert len(expected) == 10
    assert [t.id for t in page.tracks] == expected
    assert page.positions == tuple(range(1, 11))
    assert page.title == "Tech House Heat" and page.extra["chart_dj"] == "Chris Lorenzo"
    assert page.extra["query_key"] == "chart-tracks-900123-page=1&per_page=100"
    assert page.tracks[3].id == 29386531 and page.tracks[3] == _genre_page().tracks[0]


def test_built_release_page() -> None:
    page = parse_html(
        load_text(RELEASE_HTML), kind=K.RELEASE, url="https://www.beatport.com/release/flex-cardio/7075608"
    )
    assert page.title == "Flex/Cardio" and page.positions is None
    assert [t.id for t in page.tracks] == [29347759, 29347760]
    assert all(t.release is not None and t.release.id == 7075608 for t in page.tracks)
    assert page.extra["query_key"] == "release-7075608-tracks"  # key had an object part too


def test_built_track_page() -> None:
    page = parse_html(
        load_text(TRACK_HTML), kind=K.TRACK, url="https://www.beatport.com/track/stay-sexy/29386531"
    )
    assert page.tracks == (_genre_page().tracks[0],)
    assert page.build_id == BUILD_ID and page.title == "Stay Sexy"


def test_built_label_tracks_three_pages() -> None:
    url = "https://www.beatport.com/label/hellbent-records/101510/tracks"
    pages = [
        parse_html(load_text(name), kind=K.LABEL_TRACKS, url=f"{url}?page={n}&per_page=2", page=n)
        for n, name in enumerate(LABEL_TRACKS_HTML, start=1)
    ]
    assert [p.page for p in pages] == [1, 2, 3]
    assert all(p.total_count == 6 and p.per_page == 2 and p.title == "Hellbent Records" for p in pages)
    assert all(p.positions is None for p in pages)
    hellbent = [t["id"] for t in genre_top100_tracks() if t["release"]["label"]["id"] == 101510]
    assert [t.id for p in pages for t in p.tracks] == hellbent
    assert all(t.label is not None and t.label.name == "Hellbent Records" for p in pages for t in p.tracks)


def test_built_artist_tracks_skips_the_releases_query() -> None:
    url = "https://www.beatport.com/artist/chris-lorenzo/298551/tracks"
    page = parse_html(load_text(ARTIST_TRACKS_HTML), kind=K.ARTIST_TRACKS, url=url)
    assert page.title == "Chris Lorenzo"
    assert len(page.tracks) == 3
    assert all(any(a.id == 298551 for a in t.artists) for t in page.tracks)
    assert all(t.bpm is not None for t in page.tracks)  # track objects, not the release objects before them
    assert (page.total_count, page.per_page) == (3, 150)


# ---- envelope details ----------------------------------------------------------------------------------


def _listing(results: list[dict[str, Any]], **envelope: Any) -> dict[str, Any]:
    data = {"count": len(results), "results": results, **envelope}
    return {
        "buildId": "b1",
        "props": {
            "pageProps": {
                "dehydratedState": {"queries": [{"queryKey": ["chart-5-tracks"], "state": {"data": data}}]}
            }
        },
    }


def test_positions_follow_the_envelope_page() -> None:
    tracks = genre_top100_tracks()[:3]
    page = parse_page(_listing(tracks, page="2/3", per_page=50), kind=K.CHART, url="u")
    assert page.positions == (51, 52, 53) and page.page == 2 and page.per_page == 50


def test_positions_use_the_requested_page_when_the_envelope_has_none() -> None:
    page = parse_page(_listing(genre_top100_tracks()[:2], per_page=100), kind=K.CHART, url="u", page=3)
    assert page.positions == (201, 202) and page.page == 3


def test_empty_results_are_a_valid_empty_page() -> None:
    data = _listing([], page="1", per_page=150)
    data["props"]["pageProps"]["dehydratedState"]["queries"][0]["queryKey"] = [
        "label-7-tracks-page=1&per_page=150"
    ]
    page = parse_page(data, kind=K.LABEL_TRACKS, url="u")
    assert page.tracks == () and page.total_count == 0 and page.positions is None


def test_tracks_envelope_variant() -> None:
    # charts-vibe reads state.data.tracks or results for /top-100.
    data = {"props": {"pageProps": {"dehydratedState": {"queries": [
        {"queryKey": ["top-100"], "state": {"data": {"tracks": genre_top100_tracks()[:2]}}},
    ]}}}}  # fmt: skip
    page = parse_page(data, kind=K.TOP100, url="u")
    assert [t.id for t in page.tracks] == [29386531, 28703046] and page.positions == (1, 2)


def test_a_release_entity_with_track_urls_is_not_a_tracks_query() -> None:
    data = load_json(RELEASE_TRIMMED_JSON)
    with pytest.raises(PermanentSourceError, match="no tracks query"):
        parse_page(data, kind=K.CHART, url="u")


@pytest.mark.parametrize("kind", [K.GENRE_TOP100, K.TRACK])
def test_page_without_page_props(kind: TargetKind) -> None:
    with pytest.raises(PermanentSourceError, match=r"https://x\.test/p: no props\.pageProps"):
        parse_page({"props": {}, "buildId": "b"}, kind=kind, url="https://x.test/p")


def test_track_page_without_track() -> None:
    data = genre_top100_next_data()
    with pytest.raises(PermanentSourceError) as caught:
        parse_page(data, kind=K.TRACK, url="https://www.beatport.com/track/x/1")
    assert "https://www.beatport.com/track/x/1" in str(caught.value)
    assert "no track-<id> query or pageProps.track" in str(caught.value)


# ---- __NEXT_DATA__ extraction -----------------------------------------------------------------------------


def test_bot_challenge_is_transient() -> None:
    url = "https://www.beatport.com/genre/tech-house/11/top-100"
    with pytest.raises(TransientSourceError) as caught:
        parse_html(load_text(CHALLENGE_HTML), kind=K.GENRE_TOP100, url=url)
    assert str(caught.value) == f"Beatport served a bot challenge for {url}"


def test_changed_page_is_permanent_and_names_the_url() -> None:
    url = "https://www.beatport.com/genre/tech-house/11/top-100"
    with pytest.raises(PermanentSourceError) as caught:
        extract_next_data(load_text(CHANGED_HTML), url=url)
    assert url in str(caught.value) and "__NEXT_DATA__" in str(caught.value)
    assert "structure changed" in str(caught.value)


def test_broken_json_is_permanent_and_names_the_url() -> None:
    url = "https://www.beatport.com/chart/x/1"
    with pytest.raises(PermanentSourceError) as caught:
        extract_next_data(load_text(BROKEN_JSON_HTML).encode(), url=url)
    assert url in str(caught.value) and "could not decode __NEXT_DATA__ JSON" in str(caught.value)


def test_non_object_json_is_permanent() -> None:
    html = '<script id="__NEXT_DATA__" type="application/json">[1, 2]</script>'
    with pytest.raises(PermanentSourceError, match="could not decode __NEXT_DATA__ JSON"):
        extract_next_data(html, url="u")


@pytest.mark.parametrize(
    "open_tag",
    [
        '<script id="__NEXT_DATA__" type="application/json">',
        '<script type="application/json" id="__NEXT_DATA__">',
        '<script type="application/json" nonce="abc" id="__NEXT_DATA__" crossorigin="anonymous">',
        "<script id='__NEXT_DATA__' type='application/json'>",
        "<script id=__NEXT_DATA__ type=application/json>",
        '<SCRIPT TYPE="application/json" ID="__NEXT_DATA__">',
        '<script\n  type="application/json"\n  id = "__NEXT_DATA__"\n>',
        '<script data-note="a>b" id="__NEXT_DATA__" type="application/json">',  # the BeautifulSoup fallback
    ],
)
def test_attribute_order_and_quoting_do_not_matter(open_tag: str) -> None:
    html = (
        "<html><head><script>var d=document.getElementById('__NEXT_DATA__');</script>"
        '<script src="/x.js?v=__NEXT_DATA__"></script></head><body>'
        f'{open_tag}{{"buildId":"b","n":"\\u003c/script>"}}</script></body></html>'
    )
    assert extract_next_data(html, url="u") == {"buildId": "b", "n": "</script>"}


def test_bad_bytes_outside_the_json_are_harmless() -> None:
    html = b"<html>\xff\xfe" + render_page({"buildId": "b", "x": "caf\u00e9"}).encode()
    assert extract_next_data(html, url="u") == {"buildId": "b", "x": "café"}


def test_real_page_extraction_matches_the_capture() -> None:
    assert extract_next_data(load_text(GENRE_TOP100_HTML), url=GENRE_URL) == genre_top100_next_data()


# ---- the fake site serves pages the parser reads ----------------------------------------------------------


def test_fake_beatport_pages() -> None:
    with FakeBeatport() as fake, httpx.Client(base_url=fake.url) as client:
        response = client.get("/genre/tech-house/11/top-100")
        assert response.status_code == 200
        assert parse_html(response.content, kind=K.GENRE_TOP100, url=str(response.url)) == _genre_page()

        ids = fake.serve_label_tracks(4242, pages=3, slug="fake-label")
        assert len(ids) == 350 and len(set(ids)) == 350
        pages = []
        for n in (1, 2, 3):
            r = client.get("/label/fake-label/4242/tracks", params={"page": n, "per_page": 150})
            pages.append(parse_html(r.text, kind=K.LABEL_TRACKS, url=str(r.url), page=n))
        assert [len(p.tracks) for p in pages] == [150, 150, 50]
        assert all(p.total_count == 350 for p in pages)
        assert [t.id for p in pages for t in p.tracks] == list(ids)
        assert {t.label.id for p in pages for t in p.tracks if t.label} == {4242}

        fake.challenge("/chart/_/1", then="<p>ok</p>")
        blocked = client.get("/chart/_/1")
        assert blocked.status_code == 403 and blocked.headers["cf-mitigated"] == "challenge"
        with pytest.raises(TransientSourceError):
            extract_next_data(blocked.text, url="u")
        assert client.get("/chart/_/1").text == "<p>ok</p>"

        fake.rate_limited(fake.GENRE_TOP100_PATH, retry_after=2)
        limited = client.get(fake.GENRE_TOP100_PATH)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert client.get(fake.GENRE_TOP100_PATH).status_code == 200

        fake.serve_label_tracks_fixture()
        third = client.get("/label/hellbent-records/101510/tracks", params={"page": 3})
        assert parse_html(third.text, kind=K.LABEL_TRACKS, url="u").page == 3
        assert client.get("/label/hellbent-records/101510/tracks", params={"page": 4}).status_code == 404


def test_top100_with_ids_offset() -> None:
    assert top100_with_ids_offset(0) == genre_top100_html()
    offset = 2 * ID_OFFSET_STEP
    shifted = parse_html(top100_with_ids_offset(offset), kind=K.GENRE_TOP100, url=GENRE_URL)
    original = _genre_page()
    assert len(shifted.tracks) == 100
    for new, old in zip(shifted.tracks, original.tracks, strict=True):
        assert new.id == old.id + offset
        assert [a.id for a in new.artists] == [a.id + offset for a in old.artists]
        assert new.release is not None and old.release is not None
        assert new.release.id == old.release.id + offset
        assert new.label is not None and old.label is not None and new.label.id == old.label.id + offset
        assert (new.name, new.isrc, new.bpm) == (old.name, old.isrc, old.bpm)
        assert new.id < 2**31
    assert copy.deepcopy(shifted.positions) == original.positions
