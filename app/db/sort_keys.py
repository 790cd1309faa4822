"""The keys of the track list's sorts, shared by the indexes that serve them (app.db.models) and the queries that
use them (app.db.track_paging), so the two cannot drift apart.

A sort is a row value: the sorted column, then the track id as tie-breaker. A list sorted in either order is
one index range scan with a LIMIT: `ORDER BY` is the key (forwards or backwards) and a cursor is `key > (…)` or
`key < (…)`, which PostgreSQL turns into the scan's start position.

Nullable columns promise NULLs last in both orders, which a plain index cannot give both ways (scanned
backwards it puts NULLs first), so each order has its own key with a leading flag:
- ascending: `(column IS NULL, column, id)` scanned forwards: false (a value) sorts before true (NULL);
- descending: `(column IS NOT NULL, column, id)` scanned backwards: true (a value) first, largest first,
  then the NULLs, by id descending.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement


def has_value(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """`column IS NOT NULL`: the descending key's flag. A range filter that says it (a range implies it) is a
    range of that index, so the sort indexes serve `bpm_min`/`published_from` and the like as well."""
    return column.is_not(None)


def sort_key(
    column: ColumnElement[Any], tie_breaker: ColumnElement[Any], *, nullable: bool, descending: bool
) -> tuple[ColumnElement[Any], ...]:
    """The index key (and row value) of a sort on `column`, ascending or descending."""
    if not nullable:
        return (column, tie_breaker)
    flag = has_value(column) if descending else column.is_(None)
    return (flag, column, tie_breaker)
