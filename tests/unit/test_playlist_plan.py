"""Planning playlist writes: the fewest calls, each within Spotify's 100 URIs, and a plan that, applied the way
Spotify applies it, gives exactly the wanted playlist."""

from __future__ import annotations

import random

import pytest

from app.services.playlist_plan import PlaylistPlan, PlaylistWrite, plan_playlist


def uris(*numbers: int) -> list[str]:
    return [f"spotify:track:{n:022d}" for n in numbers]


def apply(current: list[str], plan: PlaylistPlan) -> list[str]:
    """What Spotify makes of the writes: PUT replaces, POST inserts (or appends), DELETE drops every occurrence."""
    playlist = list(current)
    for write in plan.writes:
        assert 1 <= len(write.uris) <= 100 or (write.kind == "replace" and not write.uris)
        if write.kind == "replace":
            playlist = list(write.uris)
        elif write.kind == "add":
            at = len(playlist) if write.position is None else write.position
            playlist[at:at] = write.uris
        else:
            gone = set(write.uris)
            playlist = [uri for uri in playlist if uri not in gone]
    return playlist


def test_an_unchanged_playlist_needs_no_write() -> None:
    plan = plan_playlist(uris(1, 2, 3), uris(1, 2, 3))
    assert plan.writes == () and (plan.added, plan.removed, plan.kept) == (0, 0, 3)
    assert plan_playlist([], []).writes == ()


def test_a_new_playlist_of_up_to_100_is_one_call() -> None:
    plan = plan_playlist([], uris(*range(100)))
    assert len(plan.writes) == 1 and plan.added == 100
    assert apply([], plan) == uris(*range(100))


def test_a_reordered_chart_is_one_replace() -> None:
    week1 = uris(*range(80))
    week2 = uris(*range(20, 100))[::-1]
    plan = plan_playlist(week1, week2)
    assert plan.writes == (PlaylistWrite("replace", tuple(week2)),)
    assert (plan.added, plan.removed, plan.kept) == (20, 20, 60)


def test_more_than_100_is_a_replace_then_appends_in_chunks() -> None:
    wanted = uris(*range(1000, 1250))[::-1]
    plan = plan_playlist(uris(*range(300)), wanted)
    assert [(w.kind, len(w.uris), w.position) for w in plan.writes] == [
        ("replace", 100, None),
        ("add", 100, None),
        ("add", 50, None),
    ]
    assert apply(uris(*range(300)), plan) == wanted


def test_a_small_change_of_a_large_playlist_is_edited_in_place() -> None:
    current = uris(*range(250))
    wanted = [*uris(*range(1, 40)), *uris(900, 901), *uris(*range(40, 250)), *uris(902)]
    plan = plan_playlist(current, wanted)
    # a replace would take 3 calls; a removal and two inserts take 3 too, and keep the rest's "date added"
    assert [(w.kind, w.uris, w.position) for w in plan.writes] == [
        ("remove", tuple(uris(0)), None),
        ("add", tuple(uris(900, 901)), 39),
        ("add", tuple(uris(902)), None),
    ]
    assert apply(current, plan) == wanted
    assert (plan.added, plan.removed, plan.kept) == (3, 1, 249)


def test_an_edit_costing_more_than_a_replace_is_not_chosen() -> None:
    current = uris(*range(150))
    wanted = [*uris(*range(0, 150, 2))[:30], *uris(900, 901), *uris(*range(0, 150, 2))[30:], *uris(902)]
    plan = plan_playlist(current, wanted)
    assert [w.kind for w in plan.writes] == ["replace"]  # 78 tracks: one call, not a removal and two inserts
    assert apply(current, plan) == wanted
    assert (plan.added, plan.removed, plan.kept) == (3, 75, 75)


def test_a_playlist_holding_a_track_twice_is_replaced() -> None:
    current = uris(1, 2, 2, 3)
    plan = plan_playlist(current, uris(1, 2, 3))
    assert [w.kind for w in plan.writes] == ["replace"]
    assert apply(current, plan) == uris(1, 2, 3)


def test_emptying_a_playlist_is_one_call() -> None:
    plan = plan_playlist(uris(*range(120)), [])
    assert len(plan.writes) == 1 and apply(uris(*range(120)), plan) == []


def test_wanted_must_hold_each_uri_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        plan_playlist([], uris(1, 1))


@pytest.mark.parametrize("seed", range(40))
def test_any_plan_reaches_the_wanted_playlist_with_no_more_calls_than_a_replace(seed: int) -> None:
    rng = random.Random(seed)
    pool = list(range(400))
    current = uris(*rng.sample(pool, rng.randint(0, 260)))
    wanted = uris(*rng.sample(pool, rng.randint(0, 260)))
    if rng.random() < 0.5:  # a small edit of the current playlist, the common weekly case
        kept = [uri for uri in current if rng.random() < 0.9]
        fresh = [uri for uri in uris(*range(1000, 1000 + rng.randint(0, 30)))]
        wanted = kept[: len(kept) // 2] + fresh + kept[len(kept) // 2 :]
    plan = plan_playlist(current, wanted)
    assert apply(current, plan) == wanted
    assert len(plan.writes) <= max(1, -(-len(wanted) // 100))
    assert plan.added + plan.kept == len(wanted)
