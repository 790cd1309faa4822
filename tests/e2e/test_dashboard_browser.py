"""The dashboard in a real browser (headless Chromium) against the deployed processes: api + worker + Redis +
PostgreSQL + a loopback fake Beatport. One browser for the module; assertions on the pages' content, waiting
with Playwright's auto-waiting `expect`, never fixed sleeps."""

from __future__ import annotations

import copy
import csv
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.auth import ADMIN_KEY
from tests.e2e.browser import chromium
from tests.e2e.conftest import Deployed, deployment
from tests.fakes.server import FakeHTTPServer, FakeResponse
from tests.fixtures.beatport import (
    GENRE_TOP100_PATH,
    genre_top100_html,
    genre_top100_next_data,
    genre_top100_tracks,
    replace_next_data,
)

pytestmark = pytest.mark.e2e

TOP100_URL = f"https://www.beatport.com{GENRE_TOP100_PATH}"
CHART_KEY = "genre-top-100-11"
SHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"  # for a person to look at; not asserted


def next_week() -> str:
    """The Top 100 a week later: the first two tracks swapped (one up, one down), the rest in place."""
    tracks: list[dict[str, Any]] = copy.deepcopy(genre_top100_tracks())
    tracks[0], tracks[1] = tracks[1], tracks[0]
    data = genre_top100_next_data()
    for query in data["props"]["pageProps"]["dehydratedState"]["queries"]:
        if query["queryKey"][0].startswith("genre-11-top-100-tracks"):
            query["state"]["data"]["results"] = tracks
    return replace_next_data(genre_top100_html(), data)


class Site:
    def __init__(self, deployed: Deployed, first_page_sent: threading.Event) -> None:
        self.deployed = deployed
        self.first_page_sent = first_page_sent  # the first collection's page waits for this


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    release = threading.Event()
    with FakeHTTPServer() as beatport:
        beatport.add(
            "GET",
            GENRE_TOP100_PATH,
            FakeResponse.html(genre_top100_html(), hold=release),
            FakeResponse.html(next_week()),
        )
        try:
            with deployment(tmp_path_factory.mktemp("dashboard"), beatport) as deployed:
                yield Site(deployed, release)
        finally:
            release.set()  # never leave the fake's thread waiting


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@pytest.fixture
def page(site: Site, browser: Browser) -> Iterator[Page]:  # site first: its setup runs asyncio
    context = browser.new_context(base_url=site.deployed.base, accept_downloads=True)
    opened = context.new_page()
    expect.set_options(timeout=30_000)
    try:
        yield opened
    finally:
        context.close()


def sign_in(page: Page, key: str = ADMIN_KEY) -> None:
    page.goto("/ui/collect")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(page: Page) -> None:
    page.goto("/ui/tracks")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("cd_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key is unknown or has been revoked.")
    shot(page, "login-refused")
    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Tracks")).to_be_visible()  # back where it was going
    expect(page.get_by_text("Signed in as API_ADMIN_KEY (admin)")).to_be_visible()


def collect(page: Page, url: str) -> None:
    page.goto("/ui/collect")
    page.get_by_label("Beatport URL or path").fill(url)
    page.get_by_role("button", name="Collect").click()


def test_collect_follow_the_task_live_then_filter_and_export_tracks(page: Page, site: Site) -> None:
    sign_in(page)
    page.goto("/ui/collect")
    page.evaluate("window.formPageLoaded = true")
    page.get_by_label("Beatport URL or path").fill("https://www.beatport.com/shop/nothing")
    page.get_by_role("button", name="Collect").click()
    expect(page.locator("#collect-error")).to_contain_text("genre Top 100")  # the API's 422, inline
    expect(page.get_by_label("Beatport URL or path")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.formPageLoaded") is True  # htmx swapped the form in place
    shot(page, "collect-refused")

    collect(page, TOP100_URL)
    expect(page.locator("#task-state")).to_have_text("running")  # the page is held at the fake Beatport
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    bar = page.locator("#task-progress")
    expect(bar).to_have_attribute("value", "0")
    task_list = page.context.new_page()
    task_list.goto("/ui/tasks?state=running")
    row = task_list.locator("#task-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="state"]')).to_have_text("running")
    site.first_page_sent.set()
    expect(page.locator("#task-state")).to_have_text("success")
    expect(row.locator('[data-field="state"]')).to_have_text("success")  # the list's row follows it too
    expect(row.locator("progress")).to_have_attribute("value", "1")
    expect(bar).to_have_attribute("value", "1")
    assert page.evaluate("window.loadedOnce") is True  # it moved without a reload
    assert int(bar.get_attribute("data-updates") or 0) >= 1
    expect(page.locator("#task-result")).to_contain_text('"tracks_created": 100')
    expect(page.locator("#task-finished")).to_contain_text("UTC")
    shot(page, "task-success")

    page.goto("/ui/tracks")
    rows = page.locator("#track-table tbody tr")
    expect(rows).to_have_count(100)
    page.get_by_label("BPM min").fill("125")
    page.get_by_label("BPM max").fill("128")
    page.evaluate("window.listLoaded = true")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"bpm_min=125&bpm_max=128"))  # htmx pushed the query
    expect(page.locator("#track-total")).not_to_have_text("100 tracks")  # the filtered list is in
    assert page.evaluate("window.listLoaded") is True  # swapped in place, no page load
    shown = {int(text) for text in rows.locator("td:first-child").all_inner_texts()}
    assert 0 < len(shown) < 100
    bpms = [int(text) for text in rows.locator("td:nth-child(5)").all_inner_texts()]
    assert all(125 <= bpm <= 128 for bpm in bpms)
    shot(page, "tracks-filtered")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {int(row["id"]) for row in exported} == shown
    assert all(125 <= int(row["bpm"]) <= 128 for row in exported)


def test_movers_after_a_second_collection(page: Page) -> None:
    sign_in(page)
    collect(page, TOP100_URL)  # the fake now serves next week's chart
    expect(page.locator("#task-state")).to_have_text("success")
    page.goto("/ui/charts")
    page.get_by_role("link", name="latest movers").click()
    expect(page.locator("#movers-summary")).to_contain_text("1 up")
    expect(page.locator("#movers-summary")).to_contain_text("1 down")
    expect(page.locator("#movers-table tbody tr")).to_have_count(2)
    expect(page.locator("#movers-table .up")).to_contain_text("up 1")
    shot(page, "movers")


def test_schedules_page_validates_crons_and_shows_the_next_run(site: Site) -> None:
    """No browser needed: a cookie-keeping client against the deployed api (schedules live in Redis)."""
    with httpx.Client(base_url=site.deployed.base, headers={"Origin": site.deployed.base}) as http:
        login = http.get("/ui/login")
        token = re.search(r'name="login_token" value="([^"]+)"', login.text)
        assert token is not None
        http.post(
            "/ui/login", data={"login_token": token.group(1), "key": ADMIN_KEY, "next": "/ui/schedules"}
        )
        listed = http.get("/ui/schedules")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', listed.text)
        assert listed.status_code == 200 and csrf is not None
        form = {"csrf_token": csrf.group(1), "kind": "collect", "genre": "tech-house", "timezone": "UTC"}
        too_often = http.post("/ui/schedules", data={**form, "cron": "* * * * *"})
        assert too_often.status_code == 422 and "SCHEDULE_MIN_INTERVAL_MINUTES" in too_often.text
        nonsense = http.post("/ui/schedules", data={**form, "cron": "every day"})
        assert nonsense.status_code == 422 and 'id="schedule-error"' in nonsense.text
        added = http.post("/ui/schedules", data={**form, "cron": "0 6 * * *"}, follow_redirects=True)
        assert added.status_code == 200 and "Tech House Top 100" in added.text
        assert re.search(r"<td>\d{4}-\d\d-\d\d 06:00:00 UTC</td>", added.text)  # the next run
        delete = re.search(r'action="(/ui/schedules/[^"]+/delete)"', added.text)
        assert delete is not None
        gone = http.post(delete.group(1), data={"csrf_token": csrf.group(1)}, follow_redirects=True)
        assert gone.status_code == 200 and "No schedule yet." in gone.text


def test_watchlist_made_run_and_read_in_the_browser(page: Page, site: Site) -> None:
    site.first_page_sent.set()  # never held here, whichever test ran first
    sign_in(page)
    page.get_by_role("link", name="Watchlists").click()
    page.get_by_label("Name").fill("Tech house weekly")
    page.get_by_label("Targets: Beatport URLs or paths, one per line").fill(f"{TOP100_URL}\n/release/x/1")
    page.get_by_label("Cron").fill("0 7 * * 1")
    page.get_by_role("button", name="Add watchlist").click()
    expect(page.locator("#watchlist-error")).to_contain_text("targets[1]")  # the API's 422, in words
    page.get_by_label("Targets: Beatport URLs or paths, one per line").fill(TOP100_URL)
    page.get_by_role("button", name="Add watchlist").click()
    expect(page.locator("#watchlist-made")).to_contain_text("Keep these now")
    feed_url = page.get_by_label("Feed URL (paste it into a feed reader)").input_value()
    row = page.locator("#watchlist-table tbody tr", has_text="Tech house weekly")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d 07:00:00 UTC"))  # the next run, Mondays
    shot(page, "watchlist-made")

    row.get_by_role("link", name="Tech house weekly").click()
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#task-state")).to_have_text("success")
    expect(page.locator("#task-result")).to_contain_text('"new_tracks": 100')
    page.go_back()
    page.reload()
    expect(page.locator("#new-total")).to_contain_text("100 in all")
    expect(page.locator("#new-tracks tbody tr")).to_have_count(100)
    shot(page, "watchlist-tracks")
    feed = httpx.get(feed_url, timeout=10)
    assert feed.status_code == 200 and feed.content.count(b"<entry>") == 100
