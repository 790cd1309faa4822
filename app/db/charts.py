"""Chart repository, read side: the charts collected, each one's snapshots, and the movers between two
snapshots. Works on SQLite and PostgreSQL.

Movers read only the two snapshots compared (by primary key), their tracks' credited artists, and, for the
tracks new in `to`, one EXISTS over the chart's older snapshots for the re-entry flag: a chart collected
weekly for years costs the same as one collected twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.chart_models import (
    ChartMovers,
    ChartRead,
    ChartSnapshotRead,
    ChartTrack,
    DroppedEntry,
    MovedEntry,
    NewEntry,
)
from app.db.models import Artist, ChartEntry, ChartSnapshot, Track, TrackArtist
from app.db.read_models import NamedRef
from app.db.upsert import in_keys
from app.sources.beatport.targets import BEATPORT_SITE_URL, chart_target

logger = logging.getLogger(__name__)

_S = ChartSnapshot.__table__
_E = ChartEntry.__table__
_T = Track.__table__
_TA = TrackArtist.__table__
_A = Artist.__table__

KEY_FORMS = "keys look like genre-top-100-11, top-100, chart-900123"


class ChartLookupError(Exception):
    """A chart question that has no answer; the message says why, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownChart(ChartLookupError):
    def __init__(self, chart_key: str) -> None:
        super().__init__(
            f"No chart with key {chart_key!r} has been collected: GET /charts lists the collected charts "
            f"({KEY_FORMS})."
        )


class UnknownSnapshot(ChartLookupError):
    def __init__(self, chart_key: str, snapshot_id: int) -> None:
        super().__init__(
            f"Snapshot {snapshot_id} is not a snapshot of chart {chart_key!r}: "
            f"GET /charts/{chart_key}/snapshots lists its snapshots."
        )


class NothingToCompare(ChartLookupError):
    """The chart has no snapshot before the one asked for (e.g. it was collected once)."""


class SnapshotOrder(ChartLookupError):
    """`from` is not older than `to`."""


# ---- charts and snapshots -----------------------------------------------------------------------------------


async def list_charts(session: AsyncSession) -> list[ChartRead]:
    """Every chart with at least one snapshot, the most recently collected first; title and URL as the latest
    collection saw them."""
    chart = _S.c.chart_key
    ranked = select(
        _S.c.chart_key,
        _S.c.title,
        _S.c.path,
        _S.c.collected_at,
        func.count().over(partition_by=chart).label("snapshots"),
        func.min(_S.c.collected_at).over(partition_by=chart).label("first_collected_at"),
        func.row_number()
        .over(partition_by=chart, order_by=(_S.c.collected_at.desc(), _S.c.id.desc()))
        .label("newest_first"),
    ).subquery()
    rows = await session.execute(
        select(ranked)
        .where(ranked.c.newest_first == 1)
        .order_by(ranked.c.collected_at.desc(), ranked.c.chart_key)
    )
    charts = []
    for row in rows:
        target = chart_target(row.chart_key)
        if target is None or target.chart_kind is None:
            logger.warning("chart_snapshots has a key that names no chart: %r", row.chart_key)
            continue
        charts.append(
            ChartRead(
                chart_key=row.chart_key,
                title=row.title or target.describe(),
                kind=target.chart_kind,
                url=BEATPORT_SITE_URL + (row.path or target.path()),
                snapshots=row.snapshots,
                first_collected_at=row.first_collected_at,
                last_collected_at=row.collected_at,
            )
        )
    return charts


async def list_snapshots(session: AsyncSession, *, chart_key: str) -> list[ChartSnapshotRead]:
    """Each collection of the chart, oldest first, with its number of entries; UnknownChart if none."""
    rows = await session.execute(
        select(_S.c.id, _S.c.collected_at, func.count(_E.c.position).label("entries"))
        .select_from(_S)
        .outerjoin(_E, _E.c.snapshot_id == _S.c.id)
        .where(_S.c.chart_key == chart_key)
        .group_by(_S.c.id, _S.c.collected_at)
        .order_by(_S.c.collected_at, _S.c.id)
    )
    snapshots = [ChartSnapshotRead.model_validate(row) for row in rows]
    if not snapshots:
        raise UnknownChart(chart_key)
    return snapshots


# ---- movers ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    id: int
    collected_at: dt.datetime

    def is_older_than(self, other: _Snapshot) -> bool:
        return (self.collected_at, self.id) < (other.collected_at, other.id)


async def chart_movers(
    session: AsyncSession, *, chart_key: str, from_id: int | None = None, to_id: int | None = None
) -> ChartMovers:
    """What moved between two snapshots of the chart: by default the last two; `to` alone compares it with the
    snapshot before it, `from` alone with the latest. Raises a ChartLookupError (UnknownChart, UnknownSnapshot,
    NothingToCompare, SnapshotOrder) when there is no such comparison."""
    before, after = await _compared(session, chart_key=chart_key, from_id=from_id, to_id=to_id)
    tracks, positions = await _entries(session, snapshot_ids=(before.id, after.id))
    was, now = positions.get(before.id, {}), positions.get(after.id, {})
    entered = [tid for tid in now if tid not in was]
    returning = await _listed_before(
        session, chart_key=chart_key, track_ids=entered, before=after, besides=before.id
    )
    stayed = [tid for tid in now if tid in was]
    return ChartMovers(
        from_=_snapshot_read(before, was),
        to=_snapshot_read(after, now),
        new=[NewEntry(track=tracks[t], position=now[t], reentry=t in returning) for t in entered],
        dropped=[DroppedEntry(track=tracks[t], previous_position=p) for t, p in was.items() if t not in now],
        up=[_moved(tracks[t], now[t], was[t]) for t in stayed if now[t] < was[t]],
        down=[_moved(tracks[t], now[t], was[t]) for t in stayed if now[t] > was[t]],
        unchanged=sum(1 for t in stayed if now[t] == was[t]),
    )


def _moved(track: ChartTrack, position: int, previous: int) -> MovedEntry:
    return MovedEntry(track=track, position=position, previous_position=previous)


def _snapshot_read(snapshot: _Snapshot, positions: dict[int, int]) -> ChartSnapshotRead:
    return ChartSnapshotRead(id=snapshot.id, collected_at=snapshot.collected_at, entries=len(positions))


async def _compared(
    session: AsyncSession, *, chart_key: str, from_id: int | None, to_id: int | None
) -> tuple[_Snapshot, _Snapshot]:
    """The (older, newer) snapshots to compare."""
    if from_id is None and to_id is None:
        newest = await _newest(session, chart_key=chart_key, limit=2)
        if len(newest) == 1:
            raise NothingToCompare(
                f"Chart {chart_key!r} has been collected once (snapshot {newest[0].id}): movers compare two "
                "snapshots, so collect it again later."
            )
        return newest[1], newest[0]
    if to_id is not None:
        after = await _snapshot(session, chart_key=chart_key, snapshot_id=to_id)
    else:
        after = (await _newest(session, chart_key=chart_key, limit=1))[0]
    if from_id is None:
        older = await _newest(session, chart_key=chart_key, limit=1, before=after)
        if not older:
            raise NothingToCompare(
                f"Snapshot {after.id} is the first of chart {chart_key!r}: there is no earlier snapshot to "
                "compare it with."
            )
        return older[0], after
    before = await _snapshot(session, chart_key=chart_key, snapshot_id=from_id)
    if not before.is_older_than(after):
        raise SnapshotOrder(
            f"`from` (snapshot {before.id}) must be an older snapshot than `to` (snapshot {after.id}); "
            f"GET /charts/{chart_key}/snapshots lists them oldest first."
        )
    return before, after


def _older_than(snapshot: _Snapshot) -> ColumnElement[bool]:
    return or_(
        _S.c.collected_at < snapshot.collected_at,
        and_(_S.c.collected_at == snapshot.collected_at, _S.c.id < snapshot.id),
    )


async def _newest(
    session: AsyncSession, *, chart_key: str, limit: int, before: _Snapshot | None = None
) -> list[_Snapshot]:
    """The chart's newest snapshots (older than `before`, if given), newest first; UnknownChart if it has none
    at all."""
    stmt: Select[int, dt.datetime] = select(_S.c.id, _S.c.collected_at).where(_S.c.chart_key == chart_key)
    if before is not None:
        stmt = stmt.where(_older_than(before))
    rows = await session.execute(stmt.order_by(_S.c.collected_at.desc(), _S.c.id.desc()).limit(limit))
    found = [_Snapshot(*row) for row in rows]
    if not found and before is None:
        raise UnknownChart(chart_key)
    return found


async def _snapshot(session: AsyncSession, *, chart_key: str, snapshot_id: int) -> _Snapshot:
    """Snapshot `snapshot_id`, which must belong to the chart (UnknownChart if the chart has none at all)."""
    row = (
        await session.execute(
            select(_S.c.id, _S.c.collected_at, _S.c.chart_key).where(_S.c.id == snapshot_id)
        )
    ).one_or_none()
    if row is not None and row.chart_key == chart_key:
        return _Snapshot(row.id, row.collected_at)
    if not await _exists(session, chart_key=chart_key):
        raise UnknownChart(chart_key)
    raise UnknownSnapshot(chart_key, snapshot_id)


async def _exists(session: AsyncSession, *, chart_key: str) -> bool:
    return bool(await session.scalar(select(exists().where(_S.c.chart_key == chart_key))))


async def _entries(
    session: AsyncSession, *, snapshot_ids: Sequence[int]
) -> tuple[dict[int, ChartTrack], dict[int, dict[int, int]]]:
    """The tracks of the snapshots, and per snapshot each track's position (its best, should a track be
    listed twice), in chart order."""
    rows = (
        await session.execute(
            select(_E.c.snapshot_id, _E.c.position, _T.c.id, _T.c.name, _T.c.mix_name)
            .join(_T, _T.c.id == _E.c.track_id)
            .where(_E.c.snapshot_id.in_(snapshot_ids))
            .order_by(_E.c.snapshot_id, _E.c.position)
        )
    ).all()
    artists = await _artists(session, track_ids=list({row.id for row in rows}))
    tracks: dict[int, ChartTrack] = {}
    positions: dict[int, dict[int, int]] = {}
    for row in rows:
        if row.id not in tracks:
            tracks[row.id] = ChartTrack(
                id=row.id, name=row.name, mix_name=row.mix_name, artists=tuple(artists.get(row.id, ()))
            )
        positions.setdefault(row.snapshot_id, {}).setdefault(row.id, row.position)
    return tracks, positions


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _artists(session: AsyncSession, *, track_ids: list[int]) -> dict[int, list[NamedRef]]:
    if not track_ids:
        return {}
    rows = await session.execute(
        select(_TA.c.track_id, _A.c.id, _A.c.name, _A.c.slug)
        .join(_A, _A.c.id == _TA.c.artist_id)
        .where(in_keys(_dialect(session), _TA.c.track_id), _TA.c.role == "artist")
        .order_by(_TA.c.track_id, _TA.c.position),
        {"keys": track_ids},
    )
    credited: dict[int, list[NamedRef]] = {}
    for row in rows:
        credited.setdefault(row.track_id, []).append(NamedRef(id=row.id, name=row.name, slug=row.slug))
    return credited


async def _listed_before(
    session: AsyncSession, *, chart_key: str, track_ids: list[int], before: _Snapshot, besides: int
) -> set[int]:
    """Which of `track_ids` a snapshot of this chart older than `before` (other than `besides`) lists."""
    if not track_ids:
        return set()
    earlier = exists().where(
        _S.c.id == _E.c.snapshot_id,
        _S.c.chart_key == chart_key,
        _S.c.id != besides,
        _older_than(before),
    )
    rows = await session.execute(
        select(_E.c.track_id).distinct().where(in_keys(_dialect(session), _E.c.track_id), earlier),
        {"keys": track_ids},
    )
    return set(rows.scalars())


async def snapshot_entries(
    session: AsyncSession, *, chart_key: str, snapshot_id: int | None = None
) -> tuple[ChartSnapshotRead, list[tuple[int, ChartTrack]]]:
    """One snapshot of the chart (default: the latest) and its tracks in chart order, as (position, track).
    Raises UnknownChart or UnknownSnapshot."""
    if snapshot_id is None:
        snapshot = (await _newest(session, chart_key=chart_key, limit=1))[0]
    else:
        snapshot = await _snapshot(session, chart_key=chart_key, snapshot_id=snapshot_id)
    tracks, positions = await _entries(session, snapshot_ids=(snapshot.id,))
    listed = positions.get(snapshot.id, {})
    ordered = sorted((position, tracks[track_id]) for track_id, position in listed.items())
    return _snapshot_read(snapshot, listed), [(position, track) for position, track in ordered]
