"""Embedded mode's status store expires statuses like Redis does and stays bounded, oldest first."""

from __future__ import annotations

from app.runtime.duplicate_claims import DuplicateClaims, MemoryClaimValues
from app.runtime.memory_status_store import INDEX_SLACK, MemoryStatusStore
from app.runtime.recent_tasks import TaskFilter, recent_tasks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_ten_thousand_statuses_with_a_short_ttl_leave_a_bounded_store() -> None:
    clock = Clock()
    store = MemoryStatusStore(ttl_seconds=5, max_statuses=1_000, clock=clock)
    for n in range(10_000):
        await store.mark_queued(f"t{n}", task_name="collect_bp_tracks", arguments={"target": f"/track/x/{n}"})
        await store.finish(f"t{n}", result={"n": n}, release_claim=None, delivery=None)
        clock.now += 0.01  # 100 tasks a second: 500 live within the 5 s TTL
        assert len(store) <= 1_000
    assert len(store) == 500  # only the last 5 s
    assert await store.get("t0") is None  # expired
    newest = await store.get("t9999")
    assert newest is not None and newest.result == {"n": 9999}


async def test_past_the_maximum_the_oldest_statuses_go_first() -> None:
    clock = Clock()
    store = MemoryStatusStore(ttl_seconds=3600, max_statuses=100, clock=clock)
    for n in range(250):
        await store.mark_queued(f"t{n}", task_name="collect_bp_tracks", arguments={})
    assert len(store) == 100
    assert await store.get("t149") is None and await store.get("t150") is not None
    await store.set_progress("t150", done=1, total=2, message="touched")  # a write renews: now the newest
    await store.mark_queued("t250", task_name="collect_bp_tracks", arguments={})
    assert await store.get("t150") is not None and await store.get("t151") is None


async def test_claims_expire_with_their_ttl() -> None:
    clock = Clock()
    store = MemoryStatusStore(ttl_seconds=60, clock=clock)
    claims = DuplicateClaims(MemoryClaimValues(store.claims), statuses=store)
    assert await claims.claim("fp", "first") is None
    assert await claims.claim("fp", "second") == "first"  # pending, being enqueued
    clock.now += 61  # the pending claim's minute has passed (its enqueue never finished)
    assert await claims.claim("fp", "third") is None


async def test_the_index_of_recent_tasks_stays_bounded_and_lists_only_live_statuses() -> None:
    clock = Clock()
    store = MemoryStatusStore(ttl_seconds=5, max_statuses=1_000, clock=clock)
    for n in range(10_000):
        await store.mark_queued(f"t{n:05}", task_name="collect_bp_tracks", arguments={})
        assert store.index_size() <= 2 * len(store) + INDEX_SLACK
        clock.now += 0.01  # 500 live within the 5 s TTL
    listed = await recent_tasks(store, wanted=TaskFilter(), limit=500)
    assert [s.task_id for s in listed.items] == [f"t{n:05}" for n in range(9_999, 9_499, -1)]
    assert listed.next_key is not None  # expired entries may still follow: the next page drops them
    rest = await recent_tasks(store, wanted=TaskFilter(), limit=500, after=listed.next_key)
    assert rest.items == [] and rest.next_key is None
    assert store.index_size() == 500


async def test_statuses_dropped_past_the_maximum_leave_the_listing() -> None:
    store = MemoryStatusStore(ttl_seconds=3600, max_statuses=100, clock=Clock())
    for n in range(250):
        await store.mark_queued(f"t{n:03}", task_name="collect_bp_tracks", arguments={})
    listed = await recent_tasks(store, wanted=TaskFilter(), limit=500)
    assert [s.task_id for s in listed.items] == [f"t{n:03}" for n in range(249, 149, -1)]
    assert listed.next_key is None and store.index_size() == 100
