"""What the chart endpoints give out (contract, second part: "Catalogue"): charts, their snapshots, and what
moved between two snapshots. app.db.charts builds these and the routes return them unchanged."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from app.db.read_models import NamedRef, ReadModel
from app.sources.beatport.targets import ChartKind


class ChartRead(ReadModel):
    """A chart collected at least once."""

    chart_key: str = Field(description="stable, URL-safe: genre-top-100-<genre id>, top-100 or chart-<id>")
    title: str = Field(description="as the latest collection's page named it")
    kind: ChartKind
    url: str = Field(description="the chart on www.beatport.com, as it was last collected")
    snapshots: int = Field(description="how many times it was collected")
    first_collected_at: dt.datetime
    last_collected_at: dt.datetime


class ChartSnapshotRead(ReadModel):
    """One collection of a chart."""

    id: int
    collected_at: dt.datetime
    entries: int = Field(description="tracks listed")


class ChartTrack(ReadModel):
    id: int
    name: str
    mix_name: str | None
    artists: tuple[NamedRef, ...] = Field(description="credited artists, in credited order")


class NewEntry(ReadModel):
    track: ChartTrack
    position: int
    reentry: bool = Field(description="listed in a snapshot of this chart older than `to` (so not `from`)")


class DroppedEntry(ReadModel):
    track: ChartTrack
    previous_position: int


class MovedEntry(ReadModel):
    track: ChartTrack
    position: int
    previous_position: int


class ChartMovers(BaseModel):
    """What changed from one snapshot of a chart to a later one. Lists are in chart order: `new`, `up` and
    `down` by position in `to`, `dropped` by position in `from`."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, serialize_by_alias=True)

    from_: ChartSnapshotRead = Field(alias="from")
    to: ChartSnapshotRead
    new: list[NewEntry] = Field(description="in `to`, not in `from`; `reentry` if listed before")
    dropped: list[DroppedEntry] = Field(description="in `from`, not in `to`")
    up: list[MovedEntry] = Field(description="a better (smaller) position in `to`")
    down: list[MovedEntry]
    unchanged: int = Field(description="tracks at the same position in both")
