"""PostgreSQL plans the track list as the indexes intend, and keeps its statistics current after large loads.

- Every sort in both orders, from the start and from a cursor (mid-list and in the NULL tail), is one index
  scan on that sort's index, in the order's direction, stopped by the LIMIT: no Sort node under the LIMIT.
  The table holds 50,000 rows, vacuumed and analyzed, so a sequential scan with a sort is a real alternative
  the planner turns down; range filters on bpm and publish_date read their ids from the descending sort
  index alone.
- A collection run that follows a large load analyzes the catalogue tables it finds stale.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.catalog import store_tracks
from app.db.session import create_engine, create_sessionmaker
from app.db.statistics import stale_tables
from app.db.track_filters import TrackFilters
from app.db.track_paging import SORT_FIELDS, CursorPosition, SortField, SortOrder, TrackSort
from app.db.track_queries import _page_stmt, count_stmt
from app.main import create_app
from app.services.collection import CollectionService
from app.services.resources import Resources
from app.sources.beatport.targets import parse_target
from tests.auth import ADMIN_KEY
from tests.fakes.server import FakeHTTPServer
from tests.fixtures.beatport import GENRE_TOP100_PATH
from tests.integration.test_tracks_api import bulk_tracks

ROWS = 50_000
SORT_INDEX = {
    ("publish_date", "asc"): "ix_tracks_sort_publish_date_asc",
    ("publish_date", "desc"): "ix_tracks_sort_publish_date_desc",
    ("bpm", "asc"): "ix_tracks_sort_bpm_asc",
    ("bpm", "desc"): "ix_tracks_sort_bpm_desc",
    ("name", "asc"): "ix_tracks_sort_name",
    ("name", "desc"): "ix_tracks_sort_name",
    ("created_at", "asc"): "ix_tracks_sort_created_at",
    ("created_at", "desc"): "ix_tracks_sort_created_at",
    ("id", "asc"): "pk_tracks",
    ("id", "desc"): "pk_tracks",
}
# 2% without a BPM, 2.5% without a publish date, names and times with ties.
FILL = f"""
INSERT INTO genres (id, name, slug) VALUES (11, 'Tech House', 'tech-house');
INSERT INTO tracks (id, name, bpm, publish_date, genre_id, created_at, updated_at)
SELECT 1000000 + (g * 7919) % {ROWS}, 'Track ' || (g % 997),
       CASE WHEN g % 50 = 0 THEN NULL ELSE 100 + g % 60 END,
       CASE WHEN g % 40 = 0 THEN NULL ELSE DATE '2020-01-01' + g % 2000 END,
       11, TIMESTAMPTZ '2026-11-01 00:00+00' + (g % 5000) * INTERVAL '1 minute', now()
FROM generate_series(0, {ROWS - 1}) AS g
"""


@pytest.fixture
async def filled(pg_database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(pg_database_url)
    async with engine.begin() as conn:
        for statement in FILL.split(";"):
            await conn.execute(text(statement))
    async with engine.connect() as conn:  # as after a large load (app.db.statistics): analyzed, vacuumed
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) tracks"))
    async with create_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


def _nodes(plan: dict[str, Any], parent: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], Any]]:
    found = [(plan, parent)]
    for child in plan.get("Plans", []):
        found += _nodes(child, plan)
    return found


def _below(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node, _ in _nodes(plan)]


async def _positions(session: AsyncSession, sort: TrackSort) -> list[CursorPosition | None]:
    """From the start, from the middle, and (nullable sorts) from inside the NULL tail."""
    column = "publish_date" if sort.field == "publish_date" else sort.field
    middle = (
        await session.execute(
            text(f"SELECT {column}, id FROM tracks WHERE {column} IS NOT NULL LIMIT 1 OFFSET 20000")
        )
    ).one()
    positions: list[CursorPosition | None] = [
        None,
        CursorPosition(sort.field, sort.order, middle[0], middle[1]),
    ]
    if sort.field in ("publish_date", "bpm"):
        tail_id = (
            await session.execute(text(f"SELECT id FROM tracks WHERE {column} IS NULL LIMIT 1 OFFSET 100"))
        ).scalar_one()
        positions.append(CursorPosition(sort.field, sort.order, None, tail_id))
    return positions


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("field", SORT_FIELDS)
async def test_each_sort_is_one_index_scan_stopped_by_the_limit(
    filled: AsyncSession, field: SortField, order: SortOrder
) -> None:
    sort = TrackSort(field=field, order=order)
    for position in await _positions(filled, sort):
        stmt = _page_stmt(filters=TrackFilters(), sort=sort, limit=51, offset=0, after=position)
        sql = str(stmt.compile(dialect=filled.get_bind().dialect, compile_kwargs={"literal_binds": True}))
        [explained] = (await filled.execute(text("EXPLAIN (FORMAT JSON) " + sql))).scalar_one()
        limited = [
            (node, parent)
            for node, parent in _nodes(explained["Plan"])
            if node.get("Relation Name") == "tracks" and parent is not None and parent["Node Type"] == "Limit"
        ]
        assert len(limited) == 1, (position, explained)  # the page's ids: tracks alone, under the LIMIT
        scan, parent = limited[0]
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), explained
        assert scan["Index Name"] == SORT_INDEX[field, order], explained
        assert scan["Scan Direction"] == ("Backward" if order == "desc" else "Forward"), explained
        assert "Sort" not in {node["Node Type"] for node in _below(parent)}, explained
        if position is not None:
            assert "Index Cond" in scan and "Filter" not in scan, scan  # the cursor is where the scan starts


async def _wait_until_stale(sessions: async_sessionmaker[AsyncSession], table: str) -> None:
    """PostgreSQL publishes a backend's row counts within about a second of its transaction."""
    deadline = time.monotonic() + 15
    while True:
        async with sessions() as session:
            if table in await stale_tables(session):
                return
        assert time.monotonic() < deadline, f"{table} never showed as changed"
        await asyncio.sleep(0.1)


async def _reltuples(sessions: async_sessionmaker[AsyncSession], table: str) -> float:
    async with sessions() as session:
        query = text("SELECT reltuples FROM pg_class WHERE relname = :table")
        return float((await session.execute(query, {"table": table})).scalar_one())


async def test_a_collection_after_a_large_load_analyzes_the_catalogue(
    pg_database_url: str, fake_site: FakeHTTPServer
) -> None:
    settings = Settings(
        _env_file=None, database_url=pg_database_url, beatport_base_url=fake_site.url, api_admin_key=ADMIN_KEY
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        async with resources.sessions.begin() as session:
            await store_tracks(session, tracks=bulk_tracks(3000), now=dt.datetime.now(dt.UTC))
        await _wait_until_stale(resources.sessions, "tracks")
        assert await _reltuples(resources.sessions, "tracks") <= 0  # analyzed empty by the migration only

        service = CollectionService(sessions=resources.sessions, fetcher=resources.beatport_fetcher())
        await service.collect(target=parse_target(GENRE_TOP100_PATH), run_id="after-load")

        assert await _reltuples(resources.sessions, "tracks") >= 3000
        async with resources.sessions() as session:
            assert await stale_tables(session) == []
            vacuumed = "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'tracks'"
            assert (await session.execute(text(vacuumed))).scalar_one()


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (TrackFilters(bpm_min=101, bpm_max=101), "ix_tracks_sort_bpm_desc"),
        (
            TrackFilters(published_from=dt.date(2021, 1, 1), published_to=dt.date(2021, 1, 31)),
            "ix_tracks_sort_publish_date_desc",
        ),
    ],
)
async def test_ranges_of_nullable_columns_are_ranges_of_the_descending_sort_index(
    filled: AsyncSession, filters: TrackFilters, index: str
) -> None:
    """A range says "has a value" too, which leads the descending sort index: the ids come from it alone."""
    stmt = _page_stmt(filters=filters, sort=TrackSort(), limit=51, offset=0, after=None)
    sql = str(stmt.compile(dialect=filled.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    [explained] = (await filled.execute(text("EXPLAIN (FORMAT JSON) " + sql))).scalar_one()
    scans = [node for node, _ in _nodes(explained["Plan"]) if node.get("Index Name") == index]
    assert len(scans) == 1 and scans[0]["Node Type"] == "Index Only Scan", explained
    assert "IS NOT NULL" in scans[0]["Index Cond"], scans[0]


# Spotify fields as enrichment leaves them: 45% matched by ISRC (score 1.0), 15% by search (0.55-0.99), 8%
# searched without a match; the rest never enriched. Method and score go together, as in a real catalogue.
MATCHES = """
UPDATE tracks SET
  spotify_match_method = CASE WHEN id % 100 < 45 THEN 'isrc' WHEN id % 100 < 60 THEN 'search' ELSE 'none' END,
  spotify_match_score = CASE WHEN id % 100 < 45 THEN 1.0 WHEN id % 100 < 60 THEN 0.55 + (id / 100 % 45) / 100.0 END
WHERE id % 100 < 68
"""
REVIEW = TrackFilters(match_method="search", match_score_lt=0.7)


async def test_match_review_counts_from_one_index_and_estimates_the_pair(filled: AsyncSession) -> None:
    """The review's bounded count reads its index alone; the planner's row estimate for method and score
    together is near the truth (multiplying their selectivities, it was 6–7 times too low)."""
    engine = filled.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text(MATCHES))
        await autocommit.execute(text("VACUUM (ANALYZE) tracks"))  # as after enriching a large catalogue

    sql = str(
        count_stmt(REVIEW, limit=10_000).compile(
            dialect=filled.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
    )
    [explained] = (await filled.execute(text("EXPLAIN (FORMAT JSON) " + sql))).scalar_one()
    scans = [node for node in _below(explained["Plan"]) if node.get("Relation Name") == "tracks"]
    assert [(scan["Node Type"], scan.get("Index Name")) for scan in scans] == [
        ("Index Only Scan", "ix_tracks_match_review")
    ], explained

    matching = "FROM tracks WHERE spotify_match_method = 'search' AND spotify_match_score < 0.7"
    actual = (await filled.execute(text("SELECT count(*) " + matching))).scalar_one()
    [estimated] = (await filled.execute(text("EXPLAIN (FORMAT JSON) SELECT 1 " + matching))).scalar_one()
    assert actual > 1000
    assert 0.5 * actual <= estimated["Plan"]["Plan Rows"] <= 2 * actual, (actual, estimated)
