"""Which pages of a target each collection run has stored, with each page's counts.

A record is written in the transaction that stores its page, so it exists exactly when the page does. A run
delivered again (a retry, or a worker that died: the task id stays the same) reads them, skips those pages
and still reports counts for the whole target.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import CollectionPage
from app.db.upsert import insert_rows


@dataclass(frozen=True)
class StoredPage:
    page: int
    served_by: str  # which source served it and why, as in the summary's `sources`
    tracks_seen: int
    tracks_created: int
    tracks_updated: int
    tracks_unchanged: int
    # What the page said about the whole list (paginated kinds): the page count follows from these.
    total_count: int | None = None
    per_page: int | None = None
    chart_snapshot_id: int | None = None


_KEY = ("run_id", "target", "page")
_COLUMNS = [getattr(CollectionPage, f.name) for f in fields(StoredPage)]


async def record_stored_page(
    session: AsyncSession, *, run_id: str, target: str, page: StoredPage, now: dt.datetime | None = None
) -> None:
    """Record that `run_id` stored `page` of `target`; call it in the transaction that stored the page.

    Two deliveries of one run storing the same page at once (a lease lost under load) keep the first record.
    """
    row = {"run_id": run_id, "target": target, **asdict(page), "stored_at": now or utcnow()}
    await insert_rows(session, model=CollectionPage, rows=[row], ignore_conflicts_on=_KEY)


async def stored_pages(session: AsyncSession, *, run_id: str, target: str) -> list[StoredPage]:
    """The pages of `target` that run `run_id` stored, by page number."""
    rows = await session.execute(
        select(*_COLUMNS)
        .where(CollectionPage.run_id == run_id, CollectionPage.target == target)
        .order_by(CollectionPage.page)
    )
    return [StoredPage(**row._mapping) for row in rows]


async def forget_stored_pages(session: AsyncSession, *, before: dt.datetime) -> None:
    """Drop the records of pages stored before `before` (their runs are long finished)."""
    await session.execute(delete(CollectionPage).where(CollectionPage.stored_at < before))
