"""Order and paging of a track list: sorts, keyset cursors, and which page a request asks for.

Ordering is always total: the sort column, then the track id as tie-breaker in the same direction, with
NULLs last in both directions. That makes offset paging repeatable and lets keyset cursors resume exactly
after the last row seen, even while new tracks are being collected. Each sort and order is one index scan
(the keys are app.db.sort_keys', shared with the indexes), and a cursor is where that scan starts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Boolean, ColumnElement, and_, literal, tuple_

from app.db.models import Track
from app.db.sort_keys import sort_key
from app.db.track_filters import MAX_ID, TrackQueryError

_T = Track.__table__

SortField = Literal["publish_date", "bpm", "name", "created_at", "id"]
SORT_FIELDS: tuple[SortField, ...] = ("publish_date", "bpm", "name", "created_at", "id")
SortOrder = Literal["asc", "desc"]

_SORT_COLUMNS: dict[str, Any] = {field: _T.c[field] for field in SORT_FIELDS}
_NULLABLE_SORTS = frozenset({"publish_date", "bpm"})


@dataclass(frozen=True, slots=True)
class TrackSort:
    """A sort of the track list; the field and order are checked where they arrive (the query parameters)."""

    field: SortField = "id"
    order: SortOrder = "asc"

    @property
    def descending(self) -> bool:
        return self.order == "desc"

    def key(self) -> tuple[ColumnElement[Any], ...]:
        """The row value this sort orders by, as its index holds it (app.db.sort_keys)."""
        if self.field == "id":
            return (_T.c.id,)
        column = _SORT_COLUMNS[self.field]
        return sort_key(column, _T.c.id, nullable=self.field in _NULLABLE_SORTS, descending=self.descending)

    def order_by(self) -> list[Any]:
        """The key, ascending or descending: an index scan forwards or backwards."""
        return [part.desc() if self.descending else part.asc() for part in self.key()]

    def after(self, position: CursorPosition) -> ColumnElement[bool]:
        """Rows strictly after `position` in this order: a row-value comparison with the sort key, where the
        index scan starts (each part written as the index holds it, so the scan can start there)."""
        if self.field == "id":
            return _T.c.id < position.id if self.descending else _T.c.id > position.id
        column = _SORT_COLUMNS[self.field]
        key = self.key()
        if position.value is None:  # in the NULL tail, which the flag marks: only the id decides
            id_after = _T.c.id < position.id if self.descending else _T.c.id > position.id
            # `<` / `>` on the flag, because PostgreSQL rewrites `(x IS NOT NULL) = false` to `x IS NULL`, which
            # no longer matches the index expression; and no `x IS NULL` beside it, which the planner would
            # count as a second condition and underestimate the rows left (then sort instead of using the index).
            outside = literal(self.descending, Boolean())  # the flag's value for rows with a value
            return and_(key[0] < outside if self.descending else key[0] > outside, id_after)
        values = [literal(position.value, column.type), literal(position.id, _T.c.id.type)]
        if len(key) == 3:  # led by the NULL flag: the position has a value, so its flag says "not NULL"
            values.insert(0, literal(self.descending, Boolean()))
        bound = tuple_(*values)
        return tuple_(*key) < bound if self.descending else tuple_(*key) > bound

    def position_of(self, track: Any) -> CursorPosition:
        """The position of `track` (anything with the sort field and `id` as attributes) in this sort."""
        return CursorPosition(
            sort=self.field, order=self.order, value=getattr(track, self.field), id=track.id
        )


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """The last row of a page, in a given sort: its sort value and id."""

    sort: SortField
    order: SortOrder
    value: Any
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, dt.date) else self.value
        raw = json.dumps([self.sort, self.order, value, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: TrackSort) -> CursorPosition:
    """The position a `next_cursor` token stands for; it must belong to the same sort and order."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        field, order, value, track_id = json.loads(raw)
        if not isinstance(track_id, int) or isinstance(track_id, bool) or not 0 <= track_id <= MAX_ID:
            raise ValueError("bad id")
        value = _cursor_value(field, value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise TrackQueryError(
            "cursor", "cursor is not valid: pass the next_cursor of a previous response unchanged"
        ) from error
    if (field, order) != (sort.field, sort.order):
        raise TrackQueryError(
            "cursor",
            f"this cursor continues a list sorted by {field} {order}, not {sort.field} {sort.order}: "
            "keep sort and order unchanged while paging with a cursor",
        )
    return CursorPosition(sort=field, order=order, value=value, id=track_id)


def _cursor_value(field: Any, value: Any) -> Any:
    if value is None:
        if field not in _NULLABLE_SORTS:
            raise ValueError(f"{field} is never null")
        return None
    if field == "publish_date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if field == "created_at" and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if (
        field in ("bpm", "id")
        and isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value) <= (2**31 - 1 if field == "bpm" else MAX_ID)  # the column types
    ):
        return value
    if field == "name" and isinstance(value, str):
        return value
    raise ValueError(f"bad {field} value")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page of a sorted list: by number (offset paging) or after a cursor (keyset paging), never both."""

    sort: TrackSort
    size: int
    number: int | None  # None when paging with a cursor
    after: CursorPosition | None

    @classmethod
    def parse(
        cls, *, sort: TrackSort, page_size: int, page: int | None = None, cursor: str | None = None
    ) -> PageRequest:
        """Check the paging parameters together; no page and no cursor is page 1."""
        if page is not None and cursor is not None:
            raise TrackQueryError("cursor", "give either page or cursor, not both")
        if page_size < 1:
            raise TrackQueryError("page_size", "page_size must be at least 1")
        if page is not None and page < 1:
            raise TrackQueryError("page", "page must be at least 1")
        if cursor is not None:
            return cls(sort=sort, size=page_size, number=None, after=decode_cursor(cursor, sort))
        return cls(sort=sort, size=page_size, number=page or 1, after=None)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size if self.number is not None else 0
