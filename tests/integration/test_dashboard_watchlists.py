"""The dashboard's watchlist pages in-process (embedded mode: no scheduler, runs on request): the API's refusals
in words, the feed URL shown once, a run followed on its task page, the new tracks, a new feed URL, delete."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from app.db.api_keys import Scope
from tests.auth import ADMIN_KEY
from tests.fixtures.beatport import GENRE_TOP100_PATH
from tests.integration.dashboard import SAME_SITE, csrf_of, sign_in, wait_for_success
from tests.integration.test_dashboard import make_key


def _feed_url(page: str, field: str) -> str:
    found = re.search(rf'id="{field}" type="text" readonly value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1).replace("&amp;", "&")


async def test_make_run_and_follow_a_watchlist_from_the_pages(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_KEY)
    empty = await browser.get("/ui/watchlists")
    assert empty.status_code == 200 and "No watchlist yet." in empty.text and "no scheduler" in empty.text
    token = csrf_of(empty)
    form = {"name": "Tech house", "cron": "0 7 * * *", "timezone": "UTC", "csrf_token": token}

    release = await browser.post(
        "/ui/watchlists", data={**form, "targets": f"{GENRE_TOP100_PATH}\n/release/x/1"}, headers=SAME_SITE
    )
    assert release.status_code == 422 and 'id="watchlist-error"' in release.text
    assert "targets[1]" in release.text and "A watchlist follows label tracks" in release.text
    assert "/release/x/1</textarea>" in release.text  # what was typed is kept
    too_often = await browser.post(
        "/ui/watchlists", data={**form, "targets": GENRE_TOP100_PATH, "cron": "* * * * *"}, headers=SAME_SITE
    )
    assert too_often.status_code == 422 and "minutes" in too_often.text

    made = await browser.post(
        "/ui/watchlists", data={**form, "targets": GENRE_TOP100_PATH}, headers=SAME_SITE
    )
    assert made.status_code == 201 and 'id="watchlist-made"' in made.text
    feed_url = _feed_url(made.text, "made-feed-url")
    watchlist_id = re.search(r'href="/ui/watchlists/(\d+)"', made.text)
    assert watchlist_id is not None
    detail_path = f"/ui/watchlists/{watchlist_id.group(1)}"
    listed = await browser.get("/ui/watchlists")
    assert "Tech house" in listed.text and "never" in listed.text and feed_url not in listed.text

    detail = await browser.get(detail_path)
    assert "Nothing new yet" in detail.text
    run = await browser.post(f"{detail_path}/run", data={"csrf_token": token}, headers=SAME_SITE)
    assert run.status_code == 303 and run.headers["location"].startswith("/ui/tasks/")
    await wait_for_success(browser, run.headers["location"])

    detail = await browser.get(detail_path)
    assert 'id="new-total">100 in all' in detail.text
    assert detail.text.count('<a href="/ui/tracks/') == 100
    assert re.search(r'id="last-run"><a href="[^"]+">[^<]+</a>: 100 new', detail.text)
    assert (await browser.get(feed_url)).status_code == 200  # the feed reads without a session or key

    renewed = await browser.post(f"{detail_path}/feed-token", data={"csrf_token": token}, headers=SAME_SITE)
    new_feed_url = _feed_url(renewed.text, "feed-url")
    assert new_feed_url != feed_url
    assert (await browser.get(feed_url)).status_code == 404
    assert (await browser.get(new_feed_url)).status_code == 200

    deleted = await browser.post(f"{detail_path}/delete", data={"csrf_token": token}, headers=SAME_SITE)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/ui/watchlists"
    gone = await browser.get(detail_path)
    assert gone.status_code == 404 and "No watchlist with id" in gone.text


async def test_a_read_key_sees_watchlists_but_cannot_change_them(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, await make_key(embedded_app, "viewer", Scope.read))
    page = await browser.get("/ui/watchlists")
    refused = await browser.post(
        "/ui/watchlists",
        data={"name": "x", "targets": GENRE_TOP100_PATH, "cron": "0 7 * * *", "csrf_token": csrf_of(page)},
        headers=SAME_SITE,
    )
    assert refused.status_code == 403
    assert "has the read scope; changing watchlists needs the write scope" in refused.text
