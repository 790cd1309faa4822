"""GET /tracks on a catalogue built for the hard cases, on SQLite and on PostgreSQL: every sort in both orders
with many NULLs and ties, by page and by cursor; the match review filters; bounded totals; the CSV export's
formatting done by the database.

The catalogue is stored through the project's store path (`store_tracks`, three batches with their own
`created_at`, so that sort has ties too) and matched through the enrichment's own `save_match`/`save_miss`.
Expectations are computed here from the generated data, never from the app's answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.catalog import store_tracks
from app.db.spotify_matches import save_match, save_miss
from app.db.track_export import CSV_COLUMNS
from app.db.track_filters import TrackFilters
from app.db.track_paging import SORT_FIELDS, TrackSort
from app.db.track_queries import list_tracks
from app.main import create_app
from app.services.resources import Resources
from app.sources.beatport.entities import BeatportArtist, BeatportGenre, BeatportRelease, BeatportTrack
from tests.auth import ADMIN_KEY, admin_client
from tests.integration.test_tracks_api import get_ids

FIRST_ID = 700_000_000
COUNT = 240
BPMS = (None, 120, 124, 124, 128)  # NULLs and ties
DATES = (None, dt.date(2026, 1, 2), dt.date(2026, 1, 2), dt.date(2025, 6, 30))
NAMES = ("Acid", "Body", "Body", "Wave", "=Formula", 'Say "Hi", Now', "Zero")  # C collation: code points
BATCH_TIMES = [dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in (2, 0, 1)]
ARTISTS = [BeatportArtist(7_000 + i, name) for i, name in enumerate(("Mili", "@home", "-ziq", "Panna"))]
GENRE = BeatportGenre(11, "Tech House", "tech-house")


@dataclass(frozen=True)
class Row:
    id: int
    bpm: int | None
    publish_date: dt.date | None
    name: str
    created_at: dt.datetime
    method: str | None  # spotify_match_method
    score: float | None


def catalogue() -> list[BeatportTrack]:
    tracks = []
    for index in range(COUNT):
        track_id = FIRST_ID + (index * 37) % COUNT  # stored out of id order
        tracks.append(
            BeatportTrack(
                id=track_id,
                name=NAMES[index % len(NAMES)],
                mix_name="+1 Remix" if index % 11 == 0 else "Original Mix",
                slug=None if index % 13 == 0 else f"track-{index}",
                artists=(ARTISTS[index % 4], ARTISTS[(index + 1) % 4])
                if index % 3
                else (ARTISTS[index % 4],),
                remixers=(ARTISTS[3],) if index % 11 == 0 else (),
                bpm=BPMS[index % len(BPMS)],
                genre=GENRE,
                release=BeatportRelease(900_000 + index // 4, f"Release {index // 4}"),
                publish_date=DATES[index % len(DATES)],
                is_explicit=(None, True, False)[index % 3],
                price_value=(Decimal("1.05"), Decimal("10.00"), Decimal("0.09"), None)[index % 4],
                price_currency="USD",
            )
        )
    return tracks


def match_of(index: int) -> tuple[str | None, float | None]:
    """(method, score) given to the track stored at `index`: matched, searched without a match, or never."""
    if index % 5 == 0:
        return "isrc", 1.0
    if index % 5 == 1:
        return "search", round(0.5 + (index % 9) * 0.05, 2)
    if index % 5 == 2:
        return "none", None
    return None, None


def expected_rows() -> list[Row]:
    rows = []
    for index, track in enumerate(catalogue()):
        method, score = match_of(index)
        created = BATCH_TIMES[index * len(BATCH_TIMES) // COUNT]
        rows.append(Row(track.id, track.bpm, track.publish_date, track.name, created, method, score))
    return rows


ROWS = expected_rows()


def expected_order(field: str, order: str, rows: list[Row] = ROWS) -> list[int]:
    """NULLs last in both orders; ties by id in the sort's direction."""
    desc = order == "desc"
    present = [r for r in rows if getattr(r, field) is not None]
    missing = [r for r in rows if getattr(r, field) is None]
    present.sort(key=lambda r: (getattr(r, field), r.id), reverse=desc)
    missing.sort(key=lambda r: r.id, reverse=desc)
    return [r.id for r in present + missing]


@pytest.fixture(scope="module")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(_env_file=None, database_url=database_url, api_admin_key=ADMIN_KEY))
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        tracks = catalogue()
        batch = COUNT // len(BATCH_TIMES)
        for number, created in enumerate(BATCH_TIMES):
            async with resources.sessions.begin() as session:
                await store_tracks(session, tracks=tracks[number * batch : (number + 1) * batch], now=created)
        async with resources.sessions.begin() as session:
            for index, track in enumerate(tracks):
                method, score = match_of(index)
                if method == "none":
                    await save_miss(session, track_id=track.id, now=BATCH_TIMES[0])
                elif method is not None and score is not None:
                    empty = (
                        "album_id",
                        "album_name",
                        "album_type",
                        "release_date",
                        "duration_ms",
                        "explicit",
                    )
                    fields: dict[str, Any] = {
                        "spotify_id": f"sp{track.id}",
                        "url": f"https://open.spotify.com/track/sp{track.id}",
                        "popularity": None,
                        **dict.fromkeys(empty),
                    }
                    await save_match(
                        session,
                        track_id=track.id,
                        fields=fields,
                        method=method,
                        score=score,
                        artist_links={},
                        now=BATCH_TIMES[0],
                    )
        yield app


@pytest.fixture(scope="module")
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app) as http:
        yield http


async def cursor_walk(api: httpx.AsyncClient, **params: Any) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    while True:
        page = {"page_size": 7, **params, **({"cursor": cursor} if cursor else {})}
        body = (await api.get("/tracks", params=page)).json()
        ids += [item["id"] for item in body["items"]]
        if cursor is not None:
            assert (body["paging"]["total"], body["paging"]["total_exact"]) == (None, False)
        cursor = body["paging"]["next_cursor"]
        if cursor is None:
            return ids


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
async def test_each_sort_in_both_orders_with_nulls_and_ties(
    api: httpx.AsyncClient, field: str, order: str
) -> None:
    want = expected_order(field, order)
    assert await get_ids(api, sort=field, order=order) == want
    assert await cursor_walk(api, sort=field, order=order) == want
    # With a filter: the cursor keeps its place within the matching rows.
    scored = [r for r in ROWS if r.method == "search"]
    assert await cursor_walk(api, sort=field, order=order, match_method="search") == expected_order(
        field, order, scored
    )


MATCH_CASES: list[tuple[dict[str, Any], Callable[[Row], bool]]] = [
    ({"match_method": "isrc"}, lambda r: r.method == "isrc"),
    ({"match_method": "search"}, lambda r: r.method == "search"),
    ({"match_method": "none"}, lambda r: r.method == "none"),
    ({"match_method": "manual"}, lambda r: r.method == "manual"),  # none yet: set by hand only
    ({"match_score_lt": 0.7}, lambda r: r.score is not None and r.score < 0.7),
    ({"match_score_lt": 1}, lambda r: r.score is not None and r.score < 1),
    ({"match_score_lt": 0}, lambda r: False),
    (
        {"match_method": "search", "match_score_lt": 0.66},
        lambda r: r.method == "search" and (r.score or 1) < 0.66,
    ),
    ({"match_method": "isrc", "match_score_lt": 1}, lambda r: False),
]


DESIGNED_EMPTY = [
    {"match_method": "manual"},
    {"match_score_lt": 0},
    {"match_method": "isrc", "match_score_lt": 1},
]


@pytest.mark.parametrize(("params", "predicate"), MATCH_CASES, ids=[str(p) for p, _ in MATCH_CASES])
async def test_match_review_filters(
    api: httpx.AsyncClient, params: dict[str, Any], predicate: Callable[[Row], bool]
) -> None:
    want = sorted(r.id for r in ROWS if predicate(r))
    assert await get_ids(api, **params) == want
    assert await get_ids(api, **params, sort="bpm", order="desc") == expected_order(
        "bpm", "desc", [r for r in ROWS if predicate(r)]
    )
    assert want or params in DESIGNED_EMPTY, "a filter case that matches nothing proves little"


async def test_list_rows_show_how_each_track_was_matched(api: httpx.AsyncClient) -> None:
    """A reviewer sees the method and score in the list itself, not only on each track's page."""
    shown = {}
    for page in (1, 2, 3):
        body = (await api.get("/tracks", params={"page_size": 100, "page": page})).json()
        shown.update({t["id"]: (t["spotify_match_method"], t["spotify_match_score"]) for t in body["items"]})
    assert shown == {r.id: (r.method, r.score) for r in ROWS}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"match_method": "fuzzy"}, "'isrc', 'search', 'manual' or 'none'"),
        ({"match_score_lt": 1.5}, "less than or equal to 1"),
        ({"match_score_lt": -0.1}, "greater than or equal to 0"),
        ({"match_score_lt": "nan"}, "finite number"),
    ],
)
async def test_bad_match_filters_are_422(
    api: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await api.get("/tracks", params=params)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))] and message in error["msg"], error


async def test_totals_are_bounded_and_say_whether_exact(app: FastAPI, api: httpx.AsyncClient) -> None:
    first = (await api.get("/tracks", params={"page_size": 10})).json()["paging"]
    assert (first["total"], first["total_exact"], first["has_more"]) == (COUNT, True, True)
    last = (await api.get("/tracks", params={"page_size": 100, "page": 3})).json()["paging"]
    assert (last["total"], last["total_exact"], last["has_more"]) == (COUNT, True, False)
    beyond = (await api.get("/tracks", params={"page_size": 100, "page": 9})).json()
    assert beyond["items"] == [] and beyond["paging"]["total"] == COUNT
    resources: Resources = app.state.resources
    async with resources.sessions() as session:
        page = await list_tracks(
            session, filters=TrackFilters(), sort=TrackSort(), page_size=10, count_limit=100
        )
        assert (page.paging.total, page.paging.total_exact) == (100, False)  # "more than 100"
        few = TrackFilters(match_method="isrc")
        page = await list_tracks(session, filters=few, sort=TrackSort(), page_size=10, count_limit=100)
        assert (page.paging.total, page.paging.total_exact) == (COUNT // 5, True)


async def test_names_shorter_than_a_trigram_are_not_counted(api: httpx.AsyncClient) -> None:
    """ "an" and "ann" find the same tracks (only Panna has either); the two-letter one is not counted: its pages
    say how many tracks lead up to their end, and whether more follow, until the last page, which knows."""
    counted = (await api.get("/tracks", params={"artist": "ann", "page_size": 10})).json()["paging"]
    assert counted["total_exact"] and counted["has_more"]
    matching = counted["total"]
    first = (await api.get("/tracks", params={"artist": "an", "page_size": 10})).json()["paging"]
    assert (first["total"], first["total_exact"], first["has_more"]) == (10, False, True)
    second = (await api.get("/tracks", params={"artist": "an", "page_size": 10, "page": 2})).json()["paging"]
    assert (second["total"], second["total_exact"]) == (20, False)
    last_page = -(-matching // 10)
    last = (await api.get("/tracks", params={"artist": "an", "page_size": 10, "page": last_page})).json()
    assert (last["paging"]["total"], last["paging"]["total_exact"], last["paging"]["has_more"]) == (
        matching,
        True,
        False,
    )
    by_id = (await api.get("/tracks", params={"artist": "7003", "page_size": 10})).json()["paging"]
    assert (by_id["total"], by_id["total_exact"]) == (matching, True)  # an id is no substring: counted


def csv_price(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def test_csv_export_formats_in_the_database_like_python_would(api: httpx.AsyncClient) -> None:
    response = await api.get("/tracks", params={"format": "csv", "sort": "publish_date", "order": "desc"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [int(r["id"]) for r in rows] == expected_order("publish_date", "desc")
    by_id = {track.id: track for track in catalogue()}
    matches = {row.id: (row.method, row.score) for row in ROWS}
    for row in rows:
        track = by_id[int(row["id"])]
        method, score = matches[track.id]
        assert row["spotify_match_method"] == (method or "")
        assert row["spotify_match_score"] == ("" if score is None else f"{score:g}")
        assert row["name"] == safe(track.name) and row["mix_name"] == safe(track.mix_name or "")
        assert row["artists"] == safe(", ".join(a.name for a in track.artists))
        assert row["remixers"] == safe(", ".join(a.name for a in track.remixers))
        assert row["price"] == csv_price(track.price_value) and row["currency"] == "USD"
        assert row["explicit"] == ("" if track.is_explicit is None else str(track.is_explicit).lower())
        assert row["beatport_url"] == f"https://www.beatport.com/track/{track.slug or '_'}/{track.id}"
        assert row["bpm"] == ("" if track.bpm is None else str(track.bpm))
        assert row["publish_date"] == ("" if track.publish_date is None else track.publish_date.isoformat())
        assert row["genre"] == "Tech House" and row["release"] == (
            track.release.name if track.release else ""
        )
    assert {r["name"] for r in rows} >= {"'=Formula", "Acid", 'Say "Hi", Now'} and "'@home" in {
        r["artists"] for r in rows
    }
    assert {r["price"] for r in rows} == {"1.05", "10.00", "0.09", ""}
    assert {"1", "0.5", "0.75", ""} <= {r["spotify_match_score"] for r in rows}  # whole numbers as PostgreSQL
