from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictInt, model_validator

from app.api.input_types import BeatportId, BodyText, BodyUrl, Flag, GenreId
from app.runtime.task_status import TaskStatus
from app.sources.beatport.targets import Target, genre_target, parse_target


def exactly_one_of(*names: str) -> dict[str, Any]:
    """JSON schema for "exactly one of these fields", so the OpenAPI schema says what the validator checks."""
    return {"oneOf": [{"required": [name]} for name in names]}


def refuse_nulls(data: Any, *names: str) -> Any:
    """A field of `exactly_one_of` is present or absent, never null (the schema counts a null as present)."""
    if isinstance(data, dict):
        for name in names:
            if name in data and data[name] is None:
                raise ValueError(f'"{name}" must not be null: leave it out instead')
    return data


class CollectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of("url", "genre"))

    url: BodyUrl | None = None
    genre: BodyText | GenreId | None = None
    max_pages: Annotated[StrictInt | None, Field(ge=1, le=200)] = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_target(cls, data: Any) -> Any:
        return refuse_nulls(data, "url", "genre")

    def target(self) -> Target:
        """The Beatport target asked for; raises InvalidTargetError for one Cratedigger does not collect."""
        return parse_target(self.url) if self.url is not None else genre_target(self.genre)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _one_target(self) -> CollectRequest:
        if (self.url is None) == (self.genre is None):
            raise ValueError(
                'give exactly one of "url" (a Beatport URL or path) or "genre" (a genre slug or id), '
                'e.g. {"url": "/genre/tech-house/11/top-100"} or {"genre": "tech-house"}'
            )
        return self


# The body of POST /collect/spotify/enrich and of a schedule's enrich action (the service's own request is
# app.services.enrichment.EnrichRequest). A comment, not a docstring: that would change the OpenAPI schema.
class EnrichBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_ids: Annotated[list[BeatportId] | None, Field(min_length=1, max_length=10_000)] = None
    only_missing: Flag = True
    limit: Annotated[StrictInt | None, Field(ge=1, le=100_000)] = None
    force: Flag = False


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str
    duplicate_of_active: bool = False
    note: str | None = None


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: str
    task_name: str
    arguments: dict[str, Any] = Field(validation_alias=AliasChoices("kwargs", "arguments"))
    error_type: str
    error_message: str
    traceback: str | None
    attempts: int
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    retried_task_id: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    limit: int
    offset: int


class TaskList(BaseModel):
    """Recent tasks, newest first. `next_cursor` is null when nothing older is left; a page holds fewer than
    `limit` tasks only at the end or when a filter matched few of the tasks one page may look at."""

    items: list[TaskStatus]
    limit: int
    next_cursor: str | None
