from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeadLetter, Track


async def catalog_counts(session: AsyncSession) -> dict[str, int]:
    row = (
        await session.execute(
            select(
                func.count(Track.id),
                func.count(Track.spotify_id),
                func.count(Track.spotify_enriched_at),
                select(func.count(DeadLetter.id)).scalar_subquery(),
            )
        )
    ).one()
    return {"tracks": row[0], "matched": row[1], "checked": row[2], "dead_letters": row[3]}
