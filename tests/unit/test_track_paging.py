"""Sorts, cursors and page requests of the track list, without a database."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from app.db.track_filters import TrackQueryError
from app.db.track_paging import CursorPosition, PageRequest, SortField, TrackSort, decode_cursor


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("publish_date", dt.date(2026, 6, 26)),
        ("publish_date", None),
        ("bpm", 124),
        ("bpm", None),
        ("name", "Stay Sexy"),
        ("created_at", dt.datetime(2026, 7, 1, 12, 30, 5, 123456, tzinfo=dt.UTC)),
        ("id", 29386531),
    ],
)
def test_a_cursor_decodes_to_the_position_it_was_made_from(field: SortField, value: Any) -> None:
    sort = TrackSort(field=field, order="desc")
    position = CursorPosition(sort=field, order="desc", value=value, id=29386531)
    assert decode_cursor(position.encode(), sort) == position


def _token(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("field", "token"),
    [
        ("id", "not-a-cursor"),
        ("bpm", _token("bpm", "asc", 128)),  # three parts
        ("bpm", _token("bpm", "asc", 128, True)),  # a boolean is not an id
        ("bpm", _token("bpm", "asc", 128, -1)),
        ("bpm", _token("bpm", "asc", 2**31, 1)),  # beyond the column
        ("name", _token("name", "asc", None, 1)),  # names are never null
        ("created_at", _token("created_at", "asc", "2026-07-01T12:00:00", 1)),  # no time zone
    ],
)
def test_a_malformed_cursor_is_refused(field: SortField, token: str) -> None:
    with pytest.raises(TrackQueryError, match="cursor is not valid") as raised:
        decode_cursor(token, TrackSort(field=field))
    assert raised.value.field == "cursor"


def test_a_cursor_of_another_sort_is_refused() -> None:
    token = CursorPosition(sort="bpm", order="asc", value=128, id=1).encode()
    with pytest.raises(TrackQueryError, match="sorted by bpm asc, not bpm desc"):
        decode_cursor(token, TrackSort(field="bpm", order="desc"))


def test_page_requests_by_number_and_by_cursor() -> None:
    sort = TrackSort()
    first = PageRequest.parse(sort=sort, page_size=50)
    assert (first.number, first.offset, first.after) == (1, 0, None)
    third = PageRequest.parse(sort=sort, page_size=10, page=3)
    assert (third.number, third.offset) == (3, 20)
    position = CursorPosition(sort="id", order="asc", value=7, id=7)
    resumed = PageRequest.parse(sort=sort, page_size=10, cursor=position.encode())
    assert (resumed.number, resumed.offset, resumed.after) == (None, 0, position)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"page_size": 10, "page": 2, "cursor": "x"}, "cursor"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 10, "page": 0}, "page"),
    ],
)
def test_paging_parameters_that_cannot_be_used_name_the_parameter(
    arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(TrackQueryError) as raised:
        PageRequest.parse(sort=TrackSort(), **arguments)
    assert raised.value.field == field
