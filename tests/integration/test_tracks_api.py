"""GET /tracks and GET /tracks/{id} through the ASGI app, on SQLite and on PostgreSQL.

The catalog is collected once per backend through CollectionService against FakeBeatport (real loopback
HTTP, the real fetcher): the real tech-house Top 100 twice, the overall Top 100, a chart, a release, a track
page, the 3-page label fixture and one extra track page with null bpm/key/date/ISRC. Expected answers are
computed independently from the fixture JSON (tests.fixtures.beatport), never from the app's own output.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import csv
import datetime as dt
import io
import itertools
import json
import random
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from app.config import Settings
from app.db.base import utcnow
from app.db.catalog import store_tracks
from app.db.spotify_matches import save_match
from app.db.track_export import CSV_COLUMNS, export_lines
from app.db.track_filters import TrackFilters
from app.db.track_paging import SORT_FIELDS, TrackSort
from app.main import create_app
from app.services.collection import CollectionService
from app.services.resources import Resources
from app.sources.beatport.entities import (
    BeatportArtist,
    BeatportGenre,
    BeatportLabel,
    BeatportRelease,
    BeatportTrack,
)
from app.sources.beatport.targets import parse_target
from tests.auth import ADMIN_KEY, admin_client
from tests.fakes.beatport import (
    ARTIST_TRACKS_PATH,
    CHART_PATH,
    RELEASE_PATH,
    TOP100_PATH,
    TRACK_PATH,
    FakeBeatport,
    top100_with_ids_offset,
)
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import (
    CHART_HTML,
    GENRE_TOP100_PATH,
    TRACK_HTML,
    genre_top100_tracks,
    load_text,
    next_data_of,
    render_page,
)

Raw = dict[str, Any]

NULL_TRACK_ID = 900_000_001
NULL_TRACK_PATH = f"/track/null-fields/{NULL_TRACK_ID}"
LABEL_FIXTURE_PATH = "/label/hellbent-records/101510/tracks"
STAY_SEXY = 29386531  # position 1 of the genre Top 100
REMIXED = 26816077  # the one Top 100 track with a remixer
ENRICHED = {STAY_SEXY: "spotify-stay-sexy", REMIXED: "spotify-remixed"}


# ---- expected data, from the fixture JSON ------------------------------------------------------------------


def null_track() -> Raw:
    """A real track object with new ids and bpm, key, publish date, ISRC and sub-genre set to null."""
    track = copy.deepcopy(genre_top100_tracks()[5])
    track["id"] = NULL_TRACK_ID
    track["name"] = "Null Fields"
    track["slug"] = "null-fields"
    track["bpm"] = None
    track["key"] = None
    track["publish_date"] = None
    track["isrc"] = None
    track["sub_genre"] = None
    return track


def null_track_page() -> str:
    data = next_data_of(load_text(TRACK_HTML))
    track = null_track()
    data["props"]["pageProps"]["dehydratedState"]["queries"][0]["queryKey"] = [f"track-{NULL_TRACK_ID}"]
    data["props"]["pageProps"]["dehydratedState"]["queries"][0]["state"]["data"] = track
    data["props"]["pageProps"]["track"] = track
    data["query"] = {"description": "null-fields", "id": str(NULL_TRACK_ID)}
    return render_page(data)


def all_raw() -> dict[int, Raw]:
    tracks = {t["id"]: t for t in genre_top100_tracks()}
    tracks[NULL_TRACK_ID] = null_track()
    return tracks


RAW = all_raw()
ALL_IDS = sorted(RAW)


def chart_track_ids() -> list[int]:
    data = next_data_of(load_text(CHART_HTML))
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if query["queryKey"][0].startswith("chart-tracks-"):
            return [t["id"] for t in query["state"]["data"]["results"]]
    raise AssertionError("chart fixture without a tracks query")


def camelot(raw: Raw) -> str | None:
    key = raw.get("key")
    return f"{key['camelot_number']}{key['camelot_letter']}" if key else None


def artist_names(raw: Raw, role: str = "artists") -> list[str]:
    return [a["name"].strip() for a in raw.get(role) or []]


def text(value: str | None) -> str:
    """How the parser stores text: stripped (the capture has e.g. "Lets Get Ill ")."""
    return (value or "").strip()


def expected(predicate: Callable[[Raw], bool]) -> list[int]:
    return sorted(tid for tid, raw in RAW.items() if predicate(raw))


def sort_value(raw: Raw, field: str, created: dict[int, dt.datetime]) -> Any:
    if field == "created_at":
        return created[raw["id"]]
    if field == "publish_date":
        return raw["publish_date"]  # ISO strings sort like dates
    return raw[field]


def expected_order(field: str, order: str, created: dict[int, dt.datetime]) -> list[int]:
    """NULLs last in both directions; ties broken by id in the sort's direction."""
    desc = order == "desc"
    present = [r for r in RAW.values() if sort_value(r, field, created) is not None]
    missing = [r for r in RAW.values() if sort_value(r, field, created) is None]
    present.sort(key=lambda r: (sort_value(r, field, created), r["id"]), reverse=desc)
    missing.sort(key=lambda r: r["id"], reverse=desc)
    return [r["id"] for r in present + missing]


# ---- the catalog, once per backend -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_beatport() -> Iterator[FakeBeatport]:
    with FakeBeatport() as fake:
        fake.serve_recorded_kinds()
        fake.serve_label_tracks_fixture(path=LABEL_FIXTURE_PATH)
        fake.serve_page(NULL_TRACK_PATH, null_track_page())
        yield fake


@pytest.fixture(scope="module")
async def catalog(database_url: str, fake_beatport: FakeBeatport) -> AsyncIterator[FastAPI]:
    """The app over a collected catalog; `app.state.snapshots` lists (chart_key, path) in collection order."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        beatport_base_url=fake_beatport.url,
        beatport_requests_per_second=1000,
        api_admin_key=ADMIN_KEY,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        service = CollectionService(sessions=resources.sessions, fetcher=resources.beatport_fetcher())
        order = [
            GENRE_TOP100_PATH,
            TOP100_PATH,
            CHART_PATH,
            RELEASE_PATH,
            TRACK_PATH,
            ARTIST_TRACKS_PATH,
            LABEL_FIXTURE_PATH,
            NULL_TRACK_PATH,
            GENRE_TOP100_PATH,  # a second run: a second snapshot of the same chart
        ]
        for path in order:
            await service.collect(target=parse_target(path), run_id=uuid.uuid4().hex)
        async with resources.sessions.begin() as session:
            for track_id, spotify_id in ENRICHED.items():
                await save_match(
                    session,
                    track_id=track_id,
                    fields=spotify_fields(spotify_id),
                    method="isrc",
                    score=1.0,
                    artist_links={},
                    now=utcnow(),
                )
        yield app


def spotify_fields(spotify_id: str) -> dict[str, Any]:
    return {
        "spotify_id": spotify_id,
        "url": f"https://open.spotify.com/track/{spotify_id}",
        "album_id": f"album-{spotify_id}",
        "album_name": "An Album",
        "album_type": "single",
        "release_date": "2026-06",
        "duration_ms": 200_000,
        "explicit": False,
        "popularity": 42,
    }


@pytest.fixture(scope="module")
async def api(catalog: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(catalog) as client:
        yield client


async def get_ids(api: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await api.get("/tracks", params={"page_size": 500, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["paging"]["total"], body["paging"]["total_exact"]) == (len(body["items"]), True)
    return [item["id"] for item in body["items"]]


async def created_at(api: httpx.AsyncClient) -> dict[int, dt.datetime]:
    response = await api.get("/tracks", params={"page_size": 500})
    return {i["id"]: dt.datetime.fromisoformat(i["created_at"]) for i in response.json()["items"]}


# ---- listing and filters -----------------------------------------------------------------------------------


async def test_default_page_and_one_track_in_full(api: httpx.AsyncClient) -> None:
    response = await api.get("/tracks")
    assert response.status_code == 200
    body = response.json()
    assert [i["id"] for i in body["items"]] == ALL_IDS[:50]
    paging = body["paging"]
    assert paging["page"] == 1 and paging["page_size"] == 50 and paging["total"] == len(RAW) == 101
    assert paging["has_more"] is True and paging["next_cursor"]
    assert (paging["sort"], paging["order"]) == ("id", "asc")

    stay_sexy = next(i for i in (await api.get("/tracks", params={"isrc": "CH7812674982"})).json()["items"])
    raw = RAW[STAY_SEXY]
    assert stay_sexy["id"] == STAY_SEXY
    assert stay_sexy["name"] == "Stay Sexy" and stay_sexy["mix_name"] == "Extended Mix"
    assert [(a["id"], a["name"]) for a in stay_sexy["artists"]] == [
        (433695, "Mili"),
        (484708, "HUGEL"),
        (642174, "LaBritney"),
    ]
    assert stay_sexy["remixers"] == []
    assert (stay_sexy["bpm"], stay_sexy["key_name"], stay_sexy["camelot"]) == (124, "Db Major", "3B")
    assert stay_sexy["genre"] == {"id": 11, "name": "Tech House", "slug": "tech-house"}
    assert stay_sexy["sub_genre"] is None
    assert stay_sexy["label"] == {
        "id": 116032,
        "name": "Make The Girls Dance Records",
        "slug": "make-the-girls-dance-records",
    }
    assert stay_sexy["release"]["id"] == 7090764
    assert stay_sexy["release"]["image_url"] == raw["release"]["image"]["uri"]
    assert stay_sexy["publish_date"] == "2026-06-26" and stay_sexy["length_ms"] == 348870
    assert (stay_sexy["price_cents"], stay_sexy["price_currency"]) == (169, "USD")
    assert stay_sexy["is_explicit"] is True
    assert stay_sexy["enriched"] is True and stay_sexy["spotify_id"] == "spotify-stay-sexy"


FILTER_CASES: list[tuple[dict[str, Any], Callable[[Raw], bool]]] = [
    ({"genre": "11"}, lambda r: r["genre"]["id"] == 11),
    ({"genre": "tech-house"}, lambda r: r["genre"]["id"] == 11),
    ({"genre": "MAINSTAGE"}, lambda r: r["genre"]["name"] == "Mainstage"),
    ({"genre": "96"}, lambda r: r["genre"]["id"] == 96),
    ({"genre": "techno"}, lambda r: False),
    ({"label": "116032"}, lambda r: r["release"]["label"]["id"] == 116032),
    ({"label": "hellbent"}, lambda r: "hellbent" in r["release"]["label"]["name"].lower()),
    ({"label": "RECORDS"}, lambda r: "records" in r["release"]["label"]["name"].lower()),
    ({"label": "%"}, lambda r: "%" in r["release"]["label"]["name"]),  # LIKE wildcards are literal
    ({"artist": "433695"}, lambda r: 433695 in [a["id"] for a in r["artists"] + r["remixers"]]),
    ({"artist": "chris lorenzo"}, lambda r: "Chris Lorenzo" in artist_names(r)),
    ({"artist": "panna"}, lambda r: any("Panna" in n for n in artist_names(r, "remixers"))),
    ({"bpm_min": 128, "bpm_max": 130}, lambda r: r["bpm"] is not None and 128 <= r["bpm"] <= 130),
    ({"bpm_min": 140}, lambda r: r["bpm"] is not None and r["bpm"] >= 140),
    ({"bpm_max": 122}, lambda r: r["bpm"] is not None and r["bpm"] <= 122),
    ({"bpm_min": 126, "bpm_max": 126}, lambda r: r["bpm"] == 126),
    ({"key": "3B"}, lambda r: camelot(r) == "3B"),
    ({"key": "8a"}, lambda r: camelot(r) == "8A"),
    ({"key": "f minor"}, lambda r: (r["key"] or {}).get("name") == "F Minor"),
    ({"key": "F# Minor"}, lambda r: (r["key"] or {}).get("name") == "Gb Minor"),
    ({"isrc": "CH7812674982"}, lambda r: r["isrc"] == "CH7812674982"),
    ({"isrc": "ch-781-26-74982"}, lambda r: r["isrc"] == "CH7812674982"),
    ({"enriched": "true"}, lambda r: r["id"] in ENRICHED),
    ({"enriched": "false"}, lambda r: r["id"] not in ENRICHED),
    ({"published_from": "2026-07-10"}, lambda r: (r["publish_date"] or "") >= "2026-07-10"),
    (
        {"published_to": "2026-01-31"},
        lambda r: r["publish_date"] is not None and r["publish_date"] <= "2026-01-31",
    ),
    (
        {"published_from": "2026-07-03", "published_to": "2026-07-10"},
        lambda r: "2026-07-03" <= (r["publish_date"] or "") <= "2026-07-10",
    ),
    (
        {"genre": "tech-house", "bpm_min": 128, "key": "F Major", "enriched": "false"},
        lambda r: (
            r["genre"]["id"] == 11
            and (r["bpm"] or 0) >= 128
            and (r["key"] or {}).get("name") == "F Major"
            and r["id"] not in ENRICHED
        ),
    ),
]


@pytest.mark.parametrize(("params", "predicate"), FILTER_CASES, ids=[str(p) for p, _ in FILTER_CASES])
async def test_filters(
    api: httpx.AsyncClient, params: dict[str, Any], predicate: Callable[[Raw], bool]
) -> None:
    want = expected(predicate)
    assert await get_ids(api, **params) == want
    interesting = {"techno", "%"}
    assert want or set(map(str, params.values())) & interesting, (
        "a filter case that matches nothing proves little"
    )


async def test_filter_counts_are_the_ones_in_the_capture(api: httpx.AsyncClient) -> None:
    # Spot checks so the generic cases above cannot pass vacuously.
    assert len(await get_ids(api, label="hellbent")) == 6
    assert len(await get_ids(api, artist="chris lorenzo")) == 3
    assert await get_ids(api, artist="panna") == [REMIXED]
    assert len(await get_ids(api, genre="96")) == 1
    assert len(await get_ids(api, enriched="true")) == 2
    assert NULL_TRACK_ID not in await get_ids(api, bpm_min=0)


# ---- sorting and paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
async def test_pages_and_cursors_walk_the_same_total_order(
    api: httpx.AsyncClient, field: str, order: str
) -> None:
    everything = await get_ids(api, sort=field, order=order)
    assert sorted(everything) == ALL_IDS
    if field != "name":  # name order follows the database collation; checked below
        assert everything == expected_order(field, order, await created_at(api))

    by_page: list[int] = []
    for number in range(1, 100):
        page_params: dict[str, Any] = {"sort": field, "order": order, "page": number, "page_size": 7}
        response = await api.get("/tracks", params=page_params)
        body = response.json()
        by_page += [i["id"] for i in body["items"]]
        assert body["paging"]["page"] == number
        if not body["paging"]["has_more"]:
            break
    by_cursor: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"sort": field, "order": order, "page_size": 7}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await api.get("/tracks", params=params)).json()
        by_cursor += [i["id"] for i in body["items"]]
        cursor = body["paging"]["next_cursor"]
        assert (cursor is not None) == body["paging"]["has_more"]
        if cursor is None:
            break
    assert by_page == everything
    assert by_cursor == everything


async def test_name_sort_and_nulls_last(api: httpx.AsyncClient) -> None:
    body = (await api.get("/tracks", params={"sort": "name", "page_size": 500})).json()
    names = [(i["name"], i["id"]) for i in body["items"]]
    for (name_a, id_a), (name_b, id_b) in itertools.pairwise(names):
        if name_a == name_b:
            assert id_a < id_b  # ties by id
    # The track without bpm and publish date comes last in both directions.
    for field in ("bpm", "publish_date"):
        for order in ("asc", "desc"):
            assert (await get_ids(api, sort=field, order=order))[-1] == NULL_TRACK_ID
    top = (await api.get("/tracks", params={"sort": "bpm", "order": "desc", "page_size": 1})).json()
    assert top["items"][0]["bpm"] == max(r["bpm"] for r in RAW.values() if r["bpm"] is not None)


async def test_cursor_paging_survives_tracks_collected_in_between(
    client: httpx.AsyncClient, embedded_app: FastAPI, fake_site: FakeHTTPServer
) -> None:
    """New tracks that sort before the cursor shift offset pages; a cursor resumes exactly where it was."""
    resources: Resources = embedded_app.state.resources
    service = CollectionService(sessions=resources.sessions, fetcher=resources.beatport_fetcher())
    await service.collect(target=parse_target(GENRE_TOP100_PATH), run_id="first")
    params: dict[str, Any] = {"sort": "id", "order": "desc", "page_size": 10}
    first = (await client.get("/tracks", params=params)).json()
    original = sorted((t["id"] for t in genre_top100_tracks()), reverse=True)
    assert [i["id"] for i in first["items"]] == original[:10]

    # The same chart again with every id shifted up: 100 new tracks, all sorting before the cursor.
    fake_site.add("GET", GENRE_TOP100_PATH, FakeResponse.html(top100_with_ids_offset(25_000_000)))
    await service.collect(target=parse_target(GENRE_TOP100_PATH), run_id="second")

    resumed = (
        await client.get("/tracks", params={**params, "cursor": first["paging"]["next_cursor"]})
    ).json()
    assert [i["id"] for i in resumed["items"]] == original[10:20]
    assert resumed["paging"]["page"] is None
    assert (resumed["paging"]["total"], resumed["paging"]["total_exact"]) == (None, False)  # counts nothing
    by_offset = (await client.get("/tracks", params={**params, "page": 2})).json()
    assert [i["id"] for i in by_offset["items"]] != original[10:20]  # what the cursor protects against
    assert (by_offset["paging"]["total"], by_offset["paging"]["total_exact"]) == (200, True)


# ---- one track ---------------------------------------------------------------------------------------------


async def test_track_detail_with_credits_release_label_spotify_and_chart_history(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(f"/tracks/{STAY_SEXY}")
    assert response.status_code == 200
    track = response.json()
    raw = RAW[STAY_SEXY]
    assert [(a["id"], a["name"], a["slug"]) for a in track["artists"]] == [
        (a["id"], a["name"], a["slug"]) for a in raw["artists"]
    ]
    assert track["remixers"] == []
    label = raw["release"]["label"]
    assert track["label"] == {
        "id": label["id"],
        "name": label["name"],
        "slug": label["slug"],
        "image_url": label["image"]["uri"],
    }
    assert track["release"] == {
        "id": raw["release"]["id"],
        "name": raw["release"]["name"],
        "slug": raw["release"]["slug"],
        "image_url": raw["release"]["image"]["uri"],
        "label": track["label"],
    }
    assert track["genre"] == {"id": 11, "name": "Tech House", "slug": "tech-house"}
    assert (track["isrc"], track["catalog_number"]) == (raw["isrc"], raw["catalog_number"])
    assert track["sample_url"] == raw["sample_url"] and track["new_release_date"] == raw["new_release_date"]
    spotify = track["spotify"]
    assert spotify["id"] == "spotify-stay-sexy" and spotify["url"].endswith("/spotify-stay-sexy")
    assert (spotify["album_name"], spotify["album_release_date"], spotify["popularity"]) == (
        "An Album",
        "2026-06",
        42,
    )
    assert (spotify["match_method"], spotify["match_score"]) == ("isrc", 1.0)
    assert spotify["enriched_at"] is not None

    # Collected: genre Top 100 (position 1), the overall Top 100 (reversed: 100), the chart, genre Top 100 again.
    chart_ids = chart_track_ids()
    want = [("genre-top-100-11", 1), ("top-100", 100)]
    if STAY_SEXY in chart_ids:
        want.append(("chart-900123", chart_ids.index(STAY_SEXY) + 1))
    want.append(("genre-top-100-11", 1))
    history = track["chart_history"]
    assert [(h["chart_key"], h["position"]) for h in history] == want
    times = [dt.datetime.fromisoformat(h["collected_at"]) for h in history]
    assert times == sorted(times) and len({h["snapshot_id"] for h in history}) == len(want)
    assert history[0]["title"] == "Tech House" and history[1]["title"] == "Beatport Top 100"


async def test_track_detail_remixers_chart_positions_and_nulls(api: httpx.AsyncClient) -> None:
    remixed = (await api.get(f"/tracks/{REMIXED}")).json()
    assert [r["name"] for r in remixed["remixers"]] == artist_names(RAW[REMIXED], "remixers")
    assert [a["name"] for a in remixed["artists"]] == artist_names(RAW[REMIXED])
    genre_position = [t["id"] for t in genre_top100_tracks()].index(REMIXED) + 1
    history = [(h["chart_key"], h["position"]) for h in remixed["chart_history"]]
    assert history[0] == ("genre-top-100-11", genre_position)
    assert history[1] == ("top-100", 101 - genre_position)

    chart_first = chart_track_ids()[0]
    charted = (await api.get(f"/tracks/{chart_first}")).json()
    assert ("chart-900123", 1) in [(h["chart_key"], h["position"]) for h in charted["chart_history"]]
    in_chart = next(h for h in charted["chart_history"] if h["chart_key"] == "chart-900123")
    assert in_chart["title"] == "Tech House Heat"

    blank = (await api.get(f"/tracks/{NULL_TRACK_ID}")).json()
    assert (blank["bpm"], blank["key_name"], blank["camelot"], blank["publish_date"], blank["isrc"]) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert blank["chart_history"] == []
    assert blank["spotify"] == dict.fromkeys(blank["spotify"])  # never enriched: all null


async def test_unknown_track_is_404_with_a_message(api: httpx.AsyncClient) -> None:
    response = await api.get("/tracks/123456789")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No track with id 123456789 has been collected (ids are Beatport track ids)."
    }
    assert (await api.get("/tracks/stay-sexy")).status_code == 422
    assert (await api.get("/tracks/99999999999999999999")).status_code == 422


# ---- bad parameters ----------------------------------------------------------------------------------------


def _cursor_for(sort: str, order: str) -> str:
    raw = json.dumps([sort, order, 128, 1]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_PARAMS: list[tuple[dict[str, Any], list[str], str]] = [
    (
        {"bpm_min": 140, "bpm_max": 120},
        ["query", "bpm_min"],
        "bpm_min (140) must not be greater than bpm_max (120)",
    ),
    ({"sort": "popularity"}, ["query", "sort"], "'publish_date', 'bpm', 'name', 'created_at' or 'id'"),
    ({"order": "up"}, ["query", "order"], "'asc' or 'desc'"),
    ({"published_from": "2026-13-01"}, ["query", "published_from"], "valid date"),
    ({"published_to": "yesterday"}, ["query", "published_to"], "valid date"),
    (
        {"published_from": "2026-07-10", "published_to": "2026-07-01"},
        ["query", "published_from"],
        "published_from (2026-07-10) must not be after published_to (2026-07-01)",
    ),
    ({"key": "H Minor"}, ["query", "key"], "neither a Camelot code (1A-12B, e.g. 8A) nor a key name"),
    ({"key": "13A"}, ["query", "key"], "neither a Camelot code"),
    ({"bpm_min": "fast"}, ["query", "bpm_min"], "valid integer"),
    ({"page_size": 501}, ["query", "page_size"], "less than or equal to 500"),
    ({"page": 0}, ["query", "page"], "greater than or equal to 1"),
    ({"page": 2, "cursor": _cursor_for("id", "asc")}, ["query", "cursor"], "either page or cursor, not both"),
    ({"cursor": "not-a-cursor"}, ["query", "cursor"], "cursor is not valid"),
    (
        {"sort": "name", "cursor": _cursor_for("bpm", "asc")},
        ["query", "cursor"],
        "sorted by bpm asc, not name asc",
    ),
    ({"bpmmin": 120}, ["query", "bpmmin"], "Extra inputs are not permitted"),
    ({"format": "xml"}, ["query", "format"], "'json' or 'csv'"),
    ({"format": "csv", "page": 2}, ["query", "page"], "format=csv exports every matching track"),
    ({"enriched": "maybe"}, ["query", "enriched"], "valid boolean"),
    ({"genre": " "}, ["query", "genre"], "genre must not be empty"),
    ({"label": "99999999999999999999"}, ["query", "label"], "is not a Beatport id (too large)"),
]


@pytest.mark.parametrize(("params", "loc", "message"), BAD_PARAMS, ids=[str(p) for p, _, _ in BAD_PARAMS])
async def test_bad_parameters_are_422_naming_the_parameter(
    api: httpx.AsyncClient, params: dict[str, Any], loc: list[str], message: str
) -> None:
    response = await api.get("/tracks", params=params)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [loc], errors
    assert message in errors[0]["msg"], errors


# ---- CSV ---------------------------------------------------------------------------------------------------


async def test_csv_export_has_a_header_and_one_row_per_track(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/tracks", params={"format": "csv", "label": "hellbent", "sort": "bpm", "order": "desc"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == "attachment; filename=cratedigger-tracks.csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(CSV_COLUMNS)
    hellbent = [RAW[i] for i in expected(lambda r: "hellbent" in r["release"]["label"]["name"].lower())]
    want_order = [r["id"] for r in sorted(hellbent, key=lambda r: (r["bpm"], r["id"]), reverse=True)]
    assert [int(r[0]) for r in rows[1:]] == want_order
    by_id = {int(r[0]): dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    for track_id, row in by_id.items():
        raw = RAW[track_id]
        assert row["name"] == text(raw["name"]) and row["mix_name"] == text(raw["mix_name"])
        assert row["artists"] == ", ".join(artist_names(raw))
        assert row["remixers"] == ", ".join(artist_names(raw, "remixers"))
        assert row["label"] == text(raw["release"]["label"]["name"])
        assert row["release"] == text(raw["release"]["name"])
        assert row["bpm"] == str(raw["bpm"]) and row["camelot"] == camelot(raw)
        assert row["isrc"] == raw["isrc"] and row["publish_date"] == raw["publish_date"]
        assert row["price"] == f"{raw['price']['value']:.2f}" and row["currency"] == raw["price"]["code"]
        assert row["beatport_url"] == f"https://www.beatport.com/track/{raw['slug']}/{track_id}"


async def test_csv_export_of_everything_joins_artists(api: httpx.AsyncClient) -> None:
    response = await api.get("/tracks", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == ALL_IDS
    stay_sexy = next(r for r in rows if int(r["id"]) == STAY_SEXY)
    assert stay_sexy["artists"] == "Mili, HUGEL, LaBritney"
    assert (stay_sexy["key"], stay_sexy["explicit"], stay_sexy["spotify_id"]) == (
        "Db Major",
        "true",
        "spotify-stay-sexy",
    )
    blank = next(r for r in rows if int(r["id"]) == NULL_TRACK_ID)
    assert (blank["bpm"], blank["key"], blank["publish_date"], blank["isrc"]) == ("", "", "", "")
    remixed = next(r for r in rows if int(r["id"]) == REMIXED)
    assert remixed["remixers"] == ", ".join(artist_names(RAW[REMIXED], "remixers"))


# ---- a 10,000-track export streams ----------------------------------------------------------------------------

BULK_TRACKS = 10_000


def bulk_tracks(count: int, seed: int = 7) -> list[BeatportTrack]:
    """Random but plausible tracks with distinct ids (factory for volume, not for field checks)."""
    rng = random.Random(seed)
    genres = [BeatportGenre(11, "Tech House", "tech-house"), BeatportGenre(6, "Techno (Peak Time)", "techno")]
    labels = [BeatportLabel(2_000_000 + i, f"Label {i}", f"label-{i}") for i in range(50)]
    artists = [BeatportArtist(3_000_000 + i, f"Artist {i}", f"artist-{i}") for i in range(400)]
    tracks = []
    for index in range(count):
        track_id = 100_000_000 + index
        label = rng.choice(labels)
        tracks.append(
            BeatportTrack(
                id=track_id,
                name=f"Bulk Track {index}",
                mix_name="Original Mix",
                slug=f"bulk-track-{index}",
                artists=tuple(rng.sample(artists, rng.randint(1, 3))),
                remixers=tuple(rng.sample(artists, 1)) if rng.random() < 0.2 else (),
                bpm=rng.randint(110, 140),
                key_name="A Minor",
                camelot="8A",
                genre=rng.choice(genres),
                release=BeatportRelease(4_000_000 + index // 4, f"Release {index // 4}", None, None, label),
                isrc=f"XX{track_id:010d}",
                catalog_number=f"CAT{index}",
                length_ms=rng.randint(180_000, 480_000),
                publish_date=dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 500)),
                new_release_date=dt.date(2025, 1, 1),
                sample_url=f"https://geo-samples.beatport.com/track/{track_id}.LOFI.mp3",
                is_explicit=False,
            )
        )
    return tracks


@pytest.fixture
async def bulk_app(pg_database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(_env_file=None, database_url=pg_database_url, api_admin_key=ADMIN_KEY))
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        tracks = bulk_tracks(BULK_TRACKS)
        for start in range(0, len(tracks), 1000):
            async with resources.sessions.begin() as session:
                await store_tracks(session, tracks=tracks[start : start + 1000])
        yield app


async def stream_csv(app: FastAPI, query: str, on_chunk: Callable[[bytes], None]) -> int:
    """Run one GET through the ASGI app, handing each body chunk to `on_chunk` as it is sent (nothing kept)."""
    done = asyncio.Event()
    status: list[int] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            if message.get("body"):
                on_chunk(message["body"])
            if not message.get("more_body", False):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/tracks",
        "raw_path": b"/tracks",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"cratedigger.test"), (b"authorization", f"Bearer {ADMIN_KEY}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("cratedigger.test", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return status[0]


async def test_csv_export_of_10000_tracks_streams_from_one_cursor(bulk_app: FastAPI) -> None:
    """10,000 tracks leave in ten chunks of 1,000 lines from one statement read through a server-side cursor,
    and memory stays flat: traced Python memory when each chunk is sent is less than half of what the same
    lines take gathered in a list, and moves between chunks by less than a quarter of it (a result fetched
    whole is all in memory at the first chunk, and shrinks from there)."""
    resources: Resources = bulk_app.state.resources
    exports = 0

    def count_exports(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal exports
        exports += statement.startswith("SELECT concat_ws(',', CAST(tracks.id AS VARCHAR)")

    ids: list[int] = []
    chunks: list[tuple[int, int]] = []  # (lines in chunk, traced bytes) when it was sent

    def on_chunk(body: bytes) -> None:
        traced = tracemalloc.get_traced_memory()[0]
        lines = body.decode().splitlines()
        if lines[0] == ",".join(CSV_COLUMNS):
            lines = lines[1:]
        ids.extend(int(line[: line.index(",")]) for line in lines)
        chunks.append((len(lines), traced))

    assert await stream_csv(bulk_app, "format=csv", lambda body: None) == 200  # compiled, prepared: warm
    event.listen(resources.engine.sync_engine, "before_cursor_execute", count_exports)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        status = await stream_csv(bulk_app, "format=csv", on_chunk)
        # The check can fail: the same lines gathered in a list.
        gathered: list[str] = []
        async with resources.sessions() as session:
            start = tracemalloc.get_traced_memory()[0]
            async for batch in export_lines(session, filters=TrackFilters(), sort=TrackSort()):
                gathered.extend(batch)
            gathered_growth = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
        event.remove(resources.engine.sync_engine, "before_cursor_execute", count_exports)

    assert status == 200
    assert ids == sorted(ids) and len(set(ids)) == BULK_TRACKS == len(gathered)  # id order, each once
    sent = [c for c in chunks if c[0]]
    assert [c[0] for c in sent] == [1000] * 10, sent
    assert exports == 2  # one statement per export (the stream, then the list above)
    traced = [c[1] - before for c in sent]
    spread = max(traced) - min(traced)  # what one batch in flight moves
    assert spread * 4 < gathered_growth and max(traced) * 2 < gathered_growth, (traced, gathered_growth)
