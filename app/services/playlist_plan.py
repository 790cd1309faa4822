"""The fewest playlist writes that turn what a playlist holds into what it should hold (pure; no I/O).

Two plans are priced in calls, each call carrying at most `batch` (Spotify: 100) URIs:

* **replace**: `PUT …/items` with the first 100 URIs (an empty list clears the playlist), then `POST` appends
  of 100 for the rest: ceil(n / 100) calls, at least one.
* **edit**: `DELETE` the URIs that must go (100 a call; Spotify removes every occurrence), then `POST` each run
  of new URIs at its position (100 a call). It is possible only when the playlist has no URI twice and the
  URIs that stay are already in the wanted order; it keeps their "date added".

Nothing to change costs nothing; otherwise the cheaper plan wins, the edit on a tie.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from app.sources.spotify.user_client import WRITE_LIMIT


@dataclass(frozen=True)
class PlaylistWrite:
    kind: Literal["replace", "add", "remove"]
    uris: tuple[str, ...]
    position: int | None = None  # add only: where the first URI goes (None: at the end)


@dataclass(frozen=True)
class PlaylistPlan:
    writes: tuple[PlaylistWrite, ...]
    added: int  # wanted URIs the playlist does not hold
    removed: int  # held URIs that are not wanted
    kept: int  # wanted URIs it holds already


def _chunks(uris: Sequence[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(uris), size):
        yield tuple(uris[start : start + size])


def replace_writes(wanted: Sequence[str], *, batch: int = WRITE_LIMIT) -> tuple[PlaylistWrite, ...]:
    chunks = list(_chunks(wanted, batch)) or [()]
    return (
        PlaylistWrite("replace", chunks[0]),
        *(PlaylistWrite("add", chunk) for chunk in chunks[1:]),
    )


def edit_writes(
    current: Sequence[str], wanted: Sequence[str], *, batch: int = WRITE_LIMIT
) -> tuple[PlaylistWrite, ...] | None:
    """Removals, then each run of new URIs inserted where it belongs; None when an edit cannot get there."""
    wanted_set, current_set = set(wanted), set(current)
    if len(current_set) != len(current):
        return None  # a URI held twice: removing one occurrence would need positions, which change
    staying = [uri for uri in current if uri in wanted_set]
    if staying != [uri for uri in wanted if uri in current_set]:
        return None  # the tracks that stay would have to move
    removals = [uri for uri in current if uri not in wanted_set]
    writes = [PlaylistWrite("remove", chunk) for chunk in _chunks(removals, batch)]
    index = 0
    while index < len(wanted):
        if wanted[index] in current_set:
            index += 1
            continue
        end = index
        while end < len(wanted) and wanted[end] not in current_set:
            end += 1
        at_end = end == len(wanted)
        for offset in range(index, end, batch):
            chunk = tuple(wanted[offset : min(offset + batch, end)])
            writes.append(PlaylistWrite("add", chunk, position=None if at_end else offset))
        index = end
    return tuple(writes)


def plan_playlist(current: Sequence[str], wanted: Sequence[str], *, batch: int = WRITE_LIMIT) -> PlaylistPlan:
    """The writes from `current` to `wanted` (which holds each URI once), and what they change."""
    if len(set(wanted)) != len(wanted):
        raise ValueError("wanted holds a URI twice")
    wanted_set, current_set = set(wanted), set(current)
    if list(current) == list(wanted):
        writes: tuple[PlaylistWrite, ...] = ()
    else:
        replace = replace_writes(wanted, batch=batch)
        edit = edit_writes(current, wanted, batch=batch)
        writes = edit if edit is not None and len(edit) <= len(replace) else replace
    return PlaylistPlan(
        writes=writes,
        added=len(wanted_set - current_set),
        removed=len(current_set - wanted_set),
        kept=len(wanted_set & current_set),
    )
