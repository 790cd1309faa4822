"""The status stores' index of recent tasks (what `GET /tasks` reads), on real Redis and in process memory:
newest first, filters, keyset pages that stay put while tasks arrive, a bounded scan whose cursor goes on, and
expired statuses leaving both the listing and the index."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from app.runtime.memory_status_store import MemoryStatusStore
from app.runtime.recent_tasks import RecentTasks, TaskFilter, recent_tasks
from app.runtime.redis_status_store import INDEX_KEY, PRUNE_BATCH, RedisStatusStore
from app.runtime.task_status import ErrorInfo, IndexKey, StatusStore, TaskState

STREAM, GROUP = "test:tasks", "test-workers"
COLLECT, ENRICH = "collect_bp_tracks", "enrich_spotify_data"

MakeStore = Callable[[int], StatusStore]


@pytest.fixture(params=["redis", "memory"])
async def make_store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[MakeStore]:
    """A store with the given TTL in seconds: Redis (an emptied test database) or process memory."""
    redis = Redis.from_url(redis_url)

    def make(ttl_seconds: int) -> StatusStore:
        if request.param == "memory":
            return MemoryStatusStore(ttl_seconds=ttl_seconds)
        return RedisStatusStore(redis, ttl_seconds=ttl_seconds, stream=STREAM, group=GROUP)

    try:
        yield make
    finally:
        await redis.aclose()


async def queue(store: StatusStore, count: int, *, task_name: str = COLLECT) -> list[str]:
    """`count` tasks queued one after the other (oldest first), as the lifecycle middleware records them."""
    ids = [uuid.uuid4().hex for _ in range(count)]
    for task_id in ids:
        await store.mark_queued(task_id, task_name=task_name, arguments={"n": task_id})
    return ids


def ids_of(page: RecentTasks) -> list[str]:
    return [status.task_id for status in page.items]


async def every_page(
    store: StatusStore, wanted: TaskFilter, *, limit: int, max_scanned: int = 5_000
) -> list[RecentTasks]:
    pages = [await recent_tasks(store, wanted=wanted, limit=limit, max_scanned=max_scanned)]
    while pages[-1].next_key is not None:
        after = pages[-1].next_key
        pages.append(
            await recent_tasks(store, wanted=wanted, limit=limit, after=after, max_scanned=max_scanned)
        )
        assert len(pages) < 100, "the cursor never ends"
    return pages


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 15
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_newest_first_and_filtered_by_state_and_name(make_store: MakeStore) -> None:
    store = make_store(600)
    collects = await queue(store, 6)
    enriches = await queue(store, 6, task_name=ENRICH)
    for task_id in (collects[1], enriches[2], enriches[4]):
        await store.start(task_id, task_name=ENRICH if task_id in enriches else COLLECT)
        await store.finish(task_id, result={"ok": True}, release_claim=None, delivery=None)
    await store.mark_failure(collects[3], error=ErrorInfo(type="BotChallengeError", message="challenged"))
    await store.start(enriches[5], task_name=ENRICH)

    everything = await recent_tasks(store, wanted=TaskFilter(), limit=50)
    assert ids_of(everything) == [*enriches[::-1], *collects[::-1]] and everything.next_key is None
    newest = everything.items[0]
    assert (newest.state, newest.task_name, newest.attempt) == (TaskState.RUNNING, ENRICH, 1)
    assert newest == await store.get(newest.task_id)  # the shape of GET /tasks/status/{id}

    succeeded = await recent_tasks(store, wanted=TaskFilter(state=TaskState.SUCCESS), limit=50)
    assert ids_of(succeeded) == [enriches[4], enriches[2], collects[1]]
    assert all(s.result == {"ok": True} for s in succeeded.items)
    failed = await recent_tasks(store, wanted=TaskFilter(state=TaskState.FAILURE), limit=50)
    assert ids_of(failed) == [collects[3]] and failed.items[0].error is not None
    named = await recent_tasks(store, wanted=TaskFilter(task_name=COLLECT), limit=50)
    assert ids_of(named) == collects[::-1]
    both = await recent_tasks(store, wanted=TaskFilter(state=TaskState.QUEUED, task_name=ENRICH), limit=50)
    assert ids_of(both) == [enriches[3], enriches[1], enriches[0]]
    assert ids_of(await recent_tasks(store, wanted=TaskFilter(task_name="nothing"), limit=50)) == []


async def test_cursor_pages_stay_put_while_new_tasks_arrive(make_store: MakeStore) -> None:
    store = make_store(600)
    old = await queue(store, 25)
    first = await recent_tasks(store, wanted=TaskFilter(), limit=10)
    assert ids_of(first) == old[:14:-1] and first.next_key is not None

    newer = await queue(store, 5)  # arrive between the pages: they neither shift nor repeat what follows
    second = await recent_tasks(store, wanted=TaskFilter(), limit=10, after=first.next_key)
    assert ids_of(second) == old[14:4:-1]
    await queue(store, 3)
    third = await recent_tasks(store, wanted=TaskFilter(), limit=10, after=second.next_key)
    assert ids_of(third) == old[4::-1] and third.next_key is None

    fresh = await recent_tasks(store, wanted=TaskFilter(), limit=10)
    assert ids_of(fresh)[3:8] == newer[::-1]

    # A filtered listing pages the same way.
    for task_id in old[::3]:
        await store.mark_failure(task_id, error=ErrorInfo(type="E", message="x"))
    pages = await every_page(store, TaskFilter(state=TaskState.FAILURE), limit=3)
    assert [task_id for page in pages for task_id in ids_of(page)] == old[::3][::-1]


async def test_a_cursor_at_one_microsecond_keeps_ties_apart(make_store: MakeStore) -> None:
    store = make_store(600)
    ids = await queue(store, 3)
    keys = await store.index_before(None, 10)
    assert [k.task_id for k in keys] == ids[::-1]
    middle = keys[1]
    # Tasks enqueued at the same microsecond are ordered by id: a key just above the middle task's id at its
    # microsecond still finds it; the middle task's own key starts below it.
    assert [
        k.task_id for k in await store.index_before(IndexKey(middle.enqueued_us, middle.task_id + "~"), 10)
    ] == [
        ids[1],
        ids[0],
    ]
    assert [k.task_id for k in await store.index_before(middle, 10)] == [ids[0]]
    assert IndexKey.from_cursor(middle.to_cursor()) == middle


async def test_a_sparse_filter_looks_at_a_bounded_number_of_tasks_and_its_cursor_goes_on(
    make_store: MakeStore,
) -> None:
    store = make_store(600)
    ids = await queue(store, 30)
    await store.mark_failure(ids[0], error=ErrorInfo(type="E", message="the oldest failed"))
    pages = await every_page(store, TaskFilter(state=TaskState.FAILURE), limit=5, max_scanned=7)
    assert [len(page.items) for page in pages] == [0, 0, 0, 0, 1]  # 7 + 7 + 7 + 7 + 2 looked at
    assert ids_of(pages[-1]) == [ids[0]]


async def test_expired_statuses_leave_the_listing_and_the_index(make_store: MakeStore) -> None:
    store = make_store(1)
    await queue(store, 5)

    async def listing_is_empty() -> bool:
        return (await recent_tasks(store, wanted=TaskFilter(), limit=50)).items == []

    await wait_for(listing_is_empty, "statuses with a 1 s TTL to expire")
    assert await store.index_before(None, 50) == []  # the listing dropped their entries
    kept = await queue(store, 2)
    assert (
        ids_of(await recent_tasks(store, wanted=TaskFilter(state=TaskState.QUEUED), limit=50)) == kept[::-1]
    )


async def test_redis_enqueues_prune_entries_whose_status_expired(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        store = RedisStatusStore(redis, ttl_seconds=1, stream=STREAM, group=GROUP)
        expiring = await queue(store, PRUNE_BATCH + 5)

        async def all_expired() -> bool:
            return await store.read_many(expiring) == [{}] * len(expiring)

        await wait_for(all_expired, "statuses with a 1 s TTL to expire")
        assert await redis.zcard(INDEX_KEY) == len(expiring)  # nothing listed them: still indexed
        kept = await queue(store, 2)  # each enqueue checks up to PRUNE_BATCH entries past the TTL
        assert await redis.zcard(INDEX_KEY) == 2
        assert {k.task_id for k in await store.index_before(None, 50)} == set(kept)
    finally:
        await redis.aclose()
