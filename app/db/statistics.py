"""Planner statistics of the catalogue tables, refreshed after large loads (PostgreSQL).

PostgreSQL plans every statement from the statistics ANALYZE gathers, and keeps the plan of a prepared
statement (asyncpg prepares every statement) until the table's statistics change. Autovacuum analyzes a
table once a tenth of it changed, but only when its worker gets round to it (every minute at best, later when
busy): a catalogue collected from empty keeps plans made when `track_artists` held a few pages, and they scan
the whole table once it holds millions of rows. So a collection run ends with `refresh_statistics`: tables
that changed by more than a fifth since their last analysis (or were never analyzed) are vacuumed and analyzed
there and then, which also invalidates the plans made from the old figures. A run that adds a few pages to a large
catalogue finds nothing to do (one catalog query). SQLite plans without gathered statistics: nothing to do.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)

CATALOGUE_TABLES = ("tracks", "track_artists", "artists", "releases", "labels", "chart_entries")
STALE_SHARE = 0.2  # of a table's rows changed since its last analysis
STALE_MIN_ROWS = 1000  # fewer changes never matter to a plan

_STALE_TABLES = text(
    """
    SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)
      AND s.n_mod_since_analyze >= :min_rows
      AND (c.reltuples < 0 OR s.n_mod_since_analyze > c.reltuples * :share)
    ORDER BY s.relname
    """
).bindparams(bindparam("tables", type_=postgresql.ARRAY(postgresql.TEXT)))


async def stale_tables(session: AsyncSession) -> list[str]:
    """Catalogue tables whose statistics are stale (PostgreSQL; always none on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    result = await session.execute(
        _STALE_TABLES, {"tables": list(CATALOGUE_TABLES), "min_rows": STALE_MIN_ROWS, "share": STALE_SHARE}
    )
    return list(result.scalars())


async def refresh_statistics(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """VACUUM (ANALYZE) the catalogue tables whose statistics are stale; returns their names.

    VACUUM as well as ANALYZE: after a load this large the visibility map is what lets counts and id lists be
    answered from the indexes alone (autovacuum would get there too, minutes later). It runs outside any
    transaction, on a connection of its own, and blocks neither reads nor writes. A failure is logged, not
    raised: the collection that calls this has stored its pages already.
    """
    async with sessions() as session:
        tables = await stale_tables(session)
        engine = (await session.connection()).engine
    if not tables:
        return tables
    try:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # Names come from the fixed list above, never from input.
            await autocommit.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))
    except SQLAlchemyError as error:  # what was stored stays stored; autovacuum will get there
        logger.warning("could not vacuum and analyze %s: %s", ", ".join(tables), error)
        return []
    logger.info("vacuumed and analyzed %s: a large share of their rows changed", ", ".join(tables))
    return tables
