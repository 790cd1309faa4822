"""Every Beatport page kind collected through the real api and `taskiq worker` against PostgreSQL, and a bot
challenge retried by the task's own policy until the page comes through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import wait_for_state
from tests.fakes.beatport import (
    ARTIST_TRACKS_PATH,
    CHART_PATH,
    RELEASE_PATH,
    TOP100_PATH,
    TRACK_PATH,
    FakeBeatport,
)

pytestmark = pytest.mark.e2e

LABEL_PATH = "/label/_/4242/tracks"
CHALLENGED_PATH = "/genre/afro-house/89/top-100"


@pytest.fixture(scope="module")
def site() -> Iterator[FakeBeatport]:
    with FakeBeatport() as fake:
        fake.serve_recorded_kinds()
        yield fake


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, site: FakeBeatport) -> Iterator[Deployed]:
    settings = {"TASK_RETRY_BASE_SECONDS": "0.5", "BEATPORT_FETCH_ATTEMPTS": "1"}
    with deployment(tmp_path_factory.mktemp("kinds"), site, settings=settings) as d:
        yield d


def _collect(d: Deployed, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"{d.base}/collect/beatport/collect", json=body)
    assert response.status_code == 202, response.text
    try:
        return wait_for_state(d.base, response.json()["task_id"], {"success", "failure"}, timeout=60)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{d.logs()}") from None


def _track_count(d: Deployed, where: str = "TRUE", *args: object) -> int:
    async def read() -> int:
        conn = await asyncpg.connect(d.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM tracks WHERE {where}", *args))
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("url", "chart_like"),
    [
        (f"https://www.beatport.com{TOP100_PATH}", True),
        (f"https://www.beatport.com/de{CHART_PATH}", True),
        (RELEASE_PATH, False),
        (TRACK_PATH, False),
        (ARTIST_TRACKS_PATH, False),
    ],
)
def test_each_kind_through_the_worker(
    running: Deployed, site: FakeBeatport, url: str, chart_like: bool
) -> None:
    done = _collect(running, {"url": url})
    assert done["state"] == "success", done
    result = done["result"]
    assert result["pages_fetched"] >= 1 and result["tracks_seen"] >= 1
    assert (result["chart_snapshot_id"] is not None) == chart_like
    track = api.get(f"{running.base}/tracks", params={"page_size": 1}).json()["items"][0]
    assert api.get(f"{running.base}/tracks/{track['id']}").status_code == 200


def test_label_tracks_follow_three_pages(running: Deployed, site: FakeBeatport) -> None:
    ids = site.serve_label_tracks(4242, pages=3, name="Three Page Records")
    done = _collect(running, {"url": LABEL_PATH, "max_pages": 5})
    assert done["state"] == "success", done
    assert done["result"]["pages_fetched"] == 3
    assert done["result"]["tracks_seen"] == len(ids)
    assert _track_count(running, "label_id = $1", 4242) == len(ids)


def test_challenged_page_is_retried_until_it_comes_through(running: Deployed, site: FakeBeatport) -> None:
    # Two Cloudflare-style challenges (403, cf-mitigated: challenge), then the real page.
    site.challenge(CHALLENGED_PATH, times=2, then=site.top100_with_ids_offset(0))
    done = _collect(running, {"genre": "afro-house"})
    assert done["state"] == "success", done
    assert done["attempt"] == 3  # two challenged attempts, each retried with backoff
    assert len(site.requests_to(CHALLENGED_PATH)) == 3
