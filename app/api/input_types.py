"""What callers may send: every value is checked here, at the edge, against the data it feeds.

Text is bounded and never carries NUL (PostgreSQL refuses it); ids fit their columns; JSON bodies take
booleans and integers only as such (`"5"`, `true` for a number, `0` for a boolean are refused).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from app.runtime.task_status import IndexKey

MAX_TEXT_CHARS = 200
MAX_URL_CHARS = 2000
INT4_MAX = 2**31 - 1  # INTEGER columns (dead letters)
INT8_MAX = 2**63 - 1  # BIGINT columns (Beatport ids)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def iso_date_text(value: object) -> object:
    """Dates as YYYY-MM-DD only (pydantic would also read "0.0" as a Unix time)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a valid date as YYYY-MM-DD")
    return value


def iso_datetime_text(value: object) -> object:
    """ISO 8601 times only (`2026-12-01`, `2026-12-01T06:00:00Z`, with an offset); no Unix times."""
    if isinstance(value, str) and not _ISO_DATETIME.fullmatch(value):
        raise ValueError("must be an ISO 8601 time such as 2026-12-01T06:00:00Z (or a date, YYYY-MM-DD)")
    return value


def in_utc(value: dt.datetime) -> dt.datetime:
    """A time without an offset is UTC; one that has no UTC equivalent (year 9999 at -14:00) is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as error:
        raise ValueError("is out of range") from error


def task_cursor(value: str) -> str:
    """A `next_cursor` of `GET /tasks`, as it was handed out."""
    IndexKey.from_cursor(value)
    return value


QueryText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(no_nul)]
TaskCursor = Annotated[QueryText, AfterValidator(task_cursor)]
BodyText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(no_nul)
]
BodyUrl = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(no_nul)
]
BeatportId = Annotated[StrictInt, Field(ge=1, le=INT8_MAX)]
GenreId = Annotated[StrictInt, Field(ge=1, le=INT4_MAX)]
DeadLetterId = Annotated[int, Field(ge=1, le=INT4_MAX)]
Flag = StrictBool
IsoDate = Annotated[dt.date, BeforeValidator(iso_date_text)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(iso_datetime_text), AfterValidator(in_utc)]
