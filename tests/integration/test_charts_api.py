"""GET /charts, /charts/{key}/snapshots and /charts/{key}/movers through the ASGI app, on SQLite and PostgreSQL.

The catalogue is collected once per backend through CollectionService against FakeBeatport (real loopback
HTTP, the real fetcher and parser): the real tech-house Top 100 for three weeks, edited deterministically
(week 0: position 77 held by a track that later comes back; week 1: the real page; week 2: four tracks
dropped, three new ones and the week-0 track back, two pairs swapped), with a chart and the overall Top 100
collected in between, so a snapshot of another chart would show if it mixed in. Expected answers are written
out from the fixture JSON, never read from the app.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from app.config import Settings
from app.db.catalog import record_chart_entries, store_tracks
from app.main import create_app
from app.services.collection import CollectionService
from app.services.resources import Resources
from app.sources.beatport.entities import TargetKind
from app.sources.beatport.parsing import parse_html
from app.sources.beatport.targets import parse_target
from tests.auth import ADMIN_KEY, admin_client
from tests.conftest import migrated_database
from tests.fakes.beatport import CHART_PATH, TOP100_PATH, FakeBeatport
from tests.fixtures.beatport import (
    CHART_HTML,
    GENRE_TOP100_PATH,
    genre_top100_html,
    genre_top100_next_data,
    genre_top100_tracks,
    load_text,
    next_data_of,
    replace_next_data,
)

Raw = dict[str, Any]

RAW = genre_top100_tracks()
T = [t["id"] for t in RAW]  # week 1 (the real page), in chart order: T[0] is position 1
FRESH_1, FRESH_2, FRESH_3, COMES_BACK = 900_000_201, 900_000_202, 900_000_203, 900_000_204
GENRE_KEY = "genre-top-100-11"
CHART_KEY = "chart-900123"
RENAMED_CHART_PATH = "/chart/heat-renamed/900123"


def extra_track(like: int, track_id: int, name: str) -> Raw:
    """A real track object under a new id and name (credits kept)."""
    track = copy.deepcopy(RAW[like])
    track.update(id=track_id, name=name, slug=name.lower().replace(" ", "-"))
    return track


EXTRA = {
    FRESH_1: extra_track(3, FRESH_1, "Fresh One"),
    FRESH_2: extra_track(4, FRESH_2, "Fresh Two"),
    FRESH_3: extra_track(5, FRESH_3, "Fresh Three"),
    COMES_BACK: extra_track(6, COMES_BACK, "Comes Back"),
}
BY_ID = {t["id"]: t for t in [*RAW, *EXTRA.values()]}


def week0() -> list[Raw]:
    tracks = copy.deepcopy(RAW)
    tracks[76] = EXTRA[COMES_BACK]  # position 77; T[76] is not listed this week
    return tracks


def week2() -> list[Raw]:
    tracks = copy.deepcopy(RAW)
    tracks[0], tracks[1] = tracks[1], tracks[0]  # T[1] up to 1, T[0] down to 2
    tracks[19], tracks[39] = tracks[39], tracks[19]  # T[39] up to 20, T[19] down to 40
    tracks[9], tracks[49], tracks[99] = (
        EXTRA[FRESH_1],
        EXTRA[FRESH_2],
        EXTRA[FRESH_3],
    )  # T[9], T[49], T[99] out
    tracks[98] = EXTRA[COMES_BACK]  # T[98] out; back after a week away
    return tracks


CHART_TRACKS = [EXTRA[FRESH_1], EXTRA[FRESH_2], EXTRA[FRESH_3], RAW[4]]


def genre_page(tracks: list[Raw]) -> str:
    data = genre_top100_next_data()
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if query["queryKey"][0].startswith("genre-11-top-100-tracks"):
            query["state"]["data"]["results"] = tracks
    return replace_next_data(genre_top100_html(), data)


def chart_page(tracks: list[Raw]) -> str:
    html = load_text(CHART_HTML)
    data = next_data_of(html)
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if query["queryKey"][0].startswith("chart-tracks-"):
            query["state"]["data"].update(results=tracks, count=len(tracks))
    return replace_next_data(html, data)


def track(track_id: int) -> dict[str, Any]:
    """A track as a movers item shows it, from the raw JSON (the parser strips text)."""
    raw = BY_ID[track_id]
    return {
        "id": track_id,
        "name": raw["name"].strip(),
        "mix_name": raw["mix_name"].strip(),
        "artists": [{"id": a["id"], "name": a["name"].strip(), "slug": a["slug"]} for a in raw["artists"]],
    }


def new(track_id: int, position: int, *, reentry: bool = False) -> dict[str, Any]:
    return {"track": track(track_id), "position": position, "reentry": reentry}


def dropped(track_id: int, previous: int) -> dict[str, Any]:
    return {"track": track(track_id), "previous_position": previous}


def moved(track_id: int, position: int, previous: int) -> dict[str, Any]:
    return {"track": track(track_id), "position": position, "previous_position": previous}


# ---- the catalogue, once per backend ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(request.param, tmp_path_factory.mktemp("charts")) as url:
        yield url


def app_settings(database_url: str, base_url: str = "http://127.0.0.1:9") -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        beatport_base_url=base_url,
        beatport_requests_per_second=1000,
        api_admin_key=ADMIN_KEY,
    )


@pytest.fixture(scope="module")
async def catalogue(database_url: str) -> AsyncIterator[FastAPI]:
    """Collected in this order: genre week 0, week 1, the chart, the overall Top 100, the chart again (another
    slug, another locale), genre week 2. The genre chart is asked for in three spellings."""
    with FakeBeatport() as fake:
        fake.serve_top100()
        app = create_app(app_settings(database_url, fake.url))
        async with app.router.lifespan_context(app):
            resources: Resources = app.state.resources
            service = CollectionService(sessions=resources.sessions, fetcher=resources.beatport_fetcher())

            async def collect(given: str) -> None:
                await service.collect(target=parse_target(given), run_id=uuid.uuid4().hex)

            fake.serve_genre_top100(genre_page(week0()))
            await collect(GENRE_TOP100_PATH)
            fake.serve_genre_top100(genre_page(RAW))
            await collect("https://www.beatport.com/de/genre/a/11/top-100")
            fake.serve_chart(chart_page(CHART_TRACKS))
            await collect(CHART_PATH)
            await collect(TOP100_PATH)
            fake.serve_chart(chart_page(CHART_TRACKS), path=RENAMED_CHART_PATH)
            await collect(f"/de{RENAMED_CHART_PATH}")
            fake.serve_genre_top100(genre_page(week2()))
            await collect("/genre/b/11/top-100")
            yield app


@pytest.fixture(scope="module")
async def api(catalogue: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(catalogue) as client:
        yield client


async def get_json(api: httpx.AsyncClient, path: str, status: int = 200, **params: Any) -> Any:
    response = await api.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


async def genre_weeks(api: httpx.AsyncClient) -> list[int]:
    return [s["id"] for s in await get_json(api, f"/charts/{GENRE_KEY}/snapshots")]


# ---- charts and snapshots ---------------------------------------------------------------------------------


async def test_charts_lists_each_chart_once_whatever_the_locale_or_slug(api: httpx.AsyncClient) -> None:
    charts = await get_json(api, "/charts")
    summary = [(c["chart_key"], c["title"], c["kind"], c["url"], c["snapshots"]) for c in charts]
    assert summary == [  # the most recently collected first
        (GENRE_KEY, "Tech House", "genre-top-100", "https://www.beatport.com/genre/tech-house/11/top-100", 3),
        (CHART_KEY, "Tech House Heat", "chart", f"https://www.beatport.com{RENAMED_CHART_PATH}", 2),
        ("top-100", "Beatport Top 100", "top-100", "https://www.beatport.com/top-100", 1),
    ]
    for chart in charts:
        first = dt.datetime.fromisoformat(chart["first_collected_at"])
        last = dt.datetime.fromisoformat(chart["last_collected_at"])
        assert first.utcoffset() == dt.timedelta(0) and (first < last) == (chart["snapshots"] > 1)
        snapshots = await get_json(api, f"/charts/{chart['chart_key']}/snapshots")
        assert snapshots[0]["collected_at"] == chart["first_collected_at"]
        assert snapshots[-1]["collected_at"] == chart["last_collected_at"]
    top100 = next(c for c in charts if c["chart_key"] == "top-100")
    genre = charts[0]
    assert dt.datetime.fromisoformat(top100["last_collected_at"]) < dt.datetime.fromisoformat(
        genre["last_collected_at"]
    )


async def test_snapshots_of_a_chart_oldest_first_with_their_entries(api: httpx.AsyncClient) -> None:
    genre = await get_json(api, f"/charts/{GENRE_KEY}/snapshots")
    assert [set(s) for s in genre] == [{"id", "collected_at", "entries"}] * 3
    assert [s["entries"] for s in genre] == [100, 100, 100]
    times = [dt.datetime.fromisoformat(s["collected_at"]) for s in genre]
    assert times == sorted(times) and [s["id"] for s in genre] == sorted(s["id"] for s in genre)
    chart = await get_json(api, f"/charts/{CHART_KEY}/snapshots")
    assert [s["entries"] for s in chart] == [4, 4]
    assert genre[1]["id"] < chart[0]["id"] < chart[1]["id"] < genre[2]["id"]  # collected in between
    assert [s["entries"] for s in await get_json(api, "/charts/top-100/snapshots")] == [100]


async def test_unknown_charts_are_404_and_malformed_keys_422(api: httpx.AsyncClient) -> None:
    for path in ("/charts/chart-1/snapshots", "/charts/genre-top-100-90/movers", "/charts/x/movers"):
        body = await get_json(api, path, 404)
        assert "has been collected" in body["detail"] and "GET /charts" in body["detail"], path
    for key in ("genre-top100:11", "Top-100", "-top", "a" * 101, "top 100"):
        await get_json(api, f"/charts/{key}/snapshots", 422)


# ---- movers -----------------------------------------------------------------------------------------------


async def test_movers_of_the_last_two_weeks(api: httpx.AsyncClient) -> None:
    _, week1, week2_id = await genre_weeks(api)
    body = await get_json(api, f"/charts/{GENRE_KEY}/movers")
    assert set(body) == {"from", "to", "new", "dropped", "up", "down", "unchanged"}
    assert (body["from"]["id"], body["from"]["entries"]) == (week1, 100)
    assert (body["to"]["id"], body["to"]["entries"]) == (week2_id, 100)
    assert body["new"] == [
        new(FRESH_1, 10),
        new(FRESH_2, 50),
        new(COMES_BACK, 99, reentry=True),  # in week 0, out in week 1
        new(FRESH_3, 100),  # listed by the chart collected in between: another chart, no re-entry
    ]
    assert body["dropped"] == [dropped(T[9], 10), dropped(T[49], 50), dropped(T[98], 99), dropped(T[99], 100)]
    assert body["up"] == [moved(T[1], 1, 2), moved(T[39], 20, 40)]
    assert body["down"] == [moved(T[0], 2, 1), moved(T[19], 40, 20)]
    assert body["unchanged"] == 100 - 4 - 4
    explicit = await get_json(api, f"/charts/{GENRE_KEY}/movers", **{"from": week1, "to": week2_id})
    assert explicit == body
    assert await get_json(api, f"/charts/{GENRE_KEY}/movers", to=week2_id) == body  # `from`: the one before
    assert await get_json(api, f"/charts/{GENRE_KEY}/movers", **{"from": week1}) == body  # `to`: the latest


async def test_movers_between_chosen_snapshots(api: httpx.AsyncClient) -> None:
    week0_id, week1, week2_id = await genre_weeks(api)
    first = await get_json(api, f"/charts/{GENRE_KEY}/movers", **{"from": week0_id, "to": week1})
    assert (first["new"], first["dropped"]) == ([new(T[76], 77)], [dropped(COMES_BACK, 77)])
    assert (first["up"], first["down"], first["unchanged"]) == ([], [], 99)
    assert await get_json(api, f"/charts/{GENRE_KEY}/movers", to=week1) == first

    # Two weeks apart: T[76] is new against week 0 and was listed in week 1, so it came back.
    apart = await get_json(api, f"/charts/{GENRE_KEY}/movers", **{"from": week0_id, "to": week2_id})
    assert apart["new"] == [
        new(FRESH_1, 10),
        new(FRESH_2, 50),
        new(T[76], 77, reentry=True),
        new(FRESH_3, 100),
    ]
    assert apart["dropped"] == [
        dropped(T[9], 10),
        dropped(T[49], 50),
        dropped(T[98], 99),
        dropped(T[99], 100),
    ]
    assert apart["up"] == [moved(T[1], 1, 2), moved(T[39], 20, 40)]
    assert apart["down"] == [moved(T[0], 2, 1), moved(T[19], 40, 20), moved(COMES_BACK, 99, 77)]
    assert apart["unchanged"] == 100 - 4 - 5


async def test_movers_of_another_chart_see_only_its_own_snapshots(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/charts/{CHART_KEY}/movers")
    assert (body["new"], body["dropped"], body["up"], body["down"]) == ([], [], [], [])
    assert body["unchanged"] == 4 and body["from"]["entries"] == body["to"]["entries"] == 4


async def test_movers_refuse_what_cannot_be_compared(api: httpx.AsyncClient) -> None:
    week0_id, week1, week2_id = await genre_weeks(api)
    chart_snapshot = (await get_json(api, f"/charts/{CHART_KEY}/snapshots"))[0]["id"]
    movers = f"/charts/{GENRE_KEY}/movers"

    once = await get_json(api, "/charts/top-100/movers", 409)
    assert "collected once" in once["detail"] and "collect it again" in once["detail"]
    assert "no earlier snapshot" in (await get_json(api, movers, 409, to=week0_id))["detail"]
    for params in ({"from": chart_snapshot}, {"to": chart_snapshot}, {"from": 2**31 - 1}):
        body = await get_json(api, movers, 404, **params)
        assert f"is not a snapshot of chart '{GENRE_KEY}'" in body["detail"], params
    for params in ({"from": week2_id, "to": week1}, {"from": week1, "to": week1}, {"from": week2_id}):
        body = await get_json(api, movers, 422, **params)
        assert "must be an older snapshot than `to`" in body["detail"], params
    for params in ({"from": 0}, {"to": 2**31}, {"from": "one"}, {"form": week0_id}):
        await get_json(api, movers, 422, **params)


async def test_track_history_names_the_new_keys(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/tracks/{COMES_BACK}")
    assert [(h["chart_key"], h["position"]) for h in body["chart_history"]] == [
        (GENRE_KEY, 77),
        (GENRE_KEY, 99),
    ]
    fresh = await get_json(api, f"/tracks/{FRESH_1}")
    assert [(h["chart_key"], h["position"]) for h in fresh["chart_history"]] == [
        (CHART_KEY, 1),
        (CHART_KEY, 1),
        (GENRE_KEY, 10),
    ]


# ---- a chart with a year of weekly snapshots -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def weekly_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with migrated_database(request.param, tmp_path) as url:
        yield url


async def test_movers_cost_the_same_statements_after_52_weekly_snapshots(weekly_database_url: str) -> None:
    """Week w lists the 100 tracks without T[w..w+4]: between weeks 50 and 51, T[50] comes back (listed
    until week 45) and T[55] drops; the query count does not grow with the snapshots."""
    app = create_app(app_settings(weekly_database_url))
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        parsed = parse_html(genre_top100_html(), kind=TargetKind.GENRE_TOP100, url=GENRE_TOP100_PATH)
        async with resources.sessions.begin() as session:
            await store_tracks(session, tracks=parsed.tracks)
            start = dt.datetime(2026, 1, 5, 6, tzinfo=dt.UTC)
            for week in range(52):
                listed = [tid for i, tid in enumerate(T) if not week <= i < week + 5]
                await record_chart_entries(
                    session,
                    chart_key=GENRE_KEY,
                    title="Tech House",
                    path=GENRE_TOP100_PATH,
                    task_id=f"week-{week}",
                    entries=list(enumerate(listed, start=1)),
                    now=start + dt.timedelta(weeks=week),
                )
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        async with admin_client(app) as client:
            event.listen(resources.engine.sync_engine, "before_cursor_execute", count)
            try:
                body = await get_json(client, f"/charts/{GENRE_KEY}/movers")
            finally:
                event.remove(resources.engine.sync_engine, "before_cursor_execute", count)
    # The two newest snapshots, their entries, the entries' artists, and the re-entry EXISTS.
    assert len(statements) == 4, statements
    assert body["new"] == [{"track": track(T[50]), "position": 51, "reentry": True}]
    assert body["dropped"] == [{"track": track(T[55]), "previous_position": 51}]
    assert (body["up"], body["down"], body["unchanged"]) == ([], [], 94)
