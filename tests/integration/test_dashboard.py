"""The dashboard in-process (embedded mode): sessions, CSRF, scopes, and the pages' answers. The browser suite
(tests/e2e/test_dashboard_browser.py) drives the same pages against the deployed processes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import update

from app.api.access import api_routes
from app.db import api_keys, dead_letters
from app.db.api_keys import Scope
from app.db.models import Track
from app.services.resources import Resources
from tests.auth import ADMIN_KEY
from tests.fixtures.beatport import GENRE_TOP100_PATH
from tests.integration.dashboard import SAME_SITE, csrf_of, sign_in, wait_for_success


def dashboard_routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in api_routes(app) if not route.include_in_schema]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0).endswith("_id}") else "x", path)


async def make_key(app: FastAPI, name: str, scope: Scope) -> str:
    resources: Resources = app.state.resources
    async with resources.sessions() as session:
        return (await api_keys.create_key(session, name=name, scope=scope))[1]


async def test_without_a_session_every_dashboard_route_sends_to_the_login_page(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    routes = dashboard_routes(embedded_app)
    assert len(routes) >= 15
    checked = 0
    for route in routes:
        for method in route.methods or ():
            path = concrete(route.path)
            response = await browser.request(method, path, data={"csrf_token": "x"}, headers=SAME_SITE)
            if route.path == "/ui/login":
                assert response.status_code in (200, 403), (
                    f"{method} {path}"
                )  # public; a POST needs its token
                continue
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/ui/login?next="), path
            checked += 1
    assert checked >= 15
    assert (await browser.get("/ui/static/htmx.min.js")).status_code == 200  # public, like the login page


async def test_the_session_cookie_is_signed_http_only_strict_and_never_holds_the_key(
    browser: httpx.AsyncClient,
) -> None:
    response = await sign_in(browser, ADMIN_KEY)
    assert response.status_code == 303 and response.headers["location"] == "/ui/tracks"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and ADMIN_KEY not in cookie
    page = await browser.get("/ui/tracks")
    assert page.status_code == 200 and "Signed in as <b>API_ADMIN_KEY</b> (admin)" in page.text
    browser.cookies.set("cratedigger_session", browser.cookies["cratedigger_session"][:-2] + "xx")
    assert (await browser.get("/ui/tracks")).status_code == 303  # a tampered cookie is no session


async def test_a_wrong_key_is_refused_and_a_revoked_keys_session_ends(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    refused = await sign_in(browser, "cd_not-a-key")
    assert refused.status_code == 403 and "unknown or has been revoked" in refused.text
    assert "cratedigger_session" not in browser.cookies
    key = await make_key(embedded_app, "dj", Scope.read)
    assert (await sign_in(browser, key)).status_code == 303
    assert (await browser.get("/ui/tracks")).status_code == 200
    async with embedded_app.state.resources.sessions() as session:
        assert await api_keys.revoke_key(session, name="dj")
    assert (await browser.get("/ui/tracks")).status_code == 303  # at once
    await make_key(embedded_app, "dj", Scope.admin)  # a new key under the old name is not the old session's
    assert (await browser.get("/ui/tracks")).status_code == 303


async def test_cross_site_posts_are_refused(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_KEY)
    token = csrf_of(await browser.get("/ui/collect"))
    form = {"url": GENRE_TOP100_PATH}
    assert (await browser.post("/ui/collect", data=form, headers=SAME_SITE)).status_code == 403  # no token
    wrong = await browser.post("/ui/collect", data={**form, "csrf_token": "forged"}, headers=SAME_SITE)
    assert wrong.status_code == 403 and "security token" in wrong.text
    foreign = await browser.post(
        "/ui/collect", data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "another site" in foreign.text
    fetched = await browser.post(
        "/ui/collect", data={**form, "csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetched.status_code == 403
    logout = await browser.post("/ui/logout", data={"csrf_token": "forged"}, headers=SAME_SITE)
    assert logout.status_code == 403  # logout is a form too
    assert (await browser.get("/ui/tasks")).status_code == 200  # none of those acted: still signed in
    assert "No task yet." in (await browser.get("/ui/tasks")).text


async def test_a_read_key_sees_pages_and_its_forms_answer_403_in_words(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, await make_key(embedded_app, "viewer", Scope.read))
    token = csrf_of(await browser.get("/ui/collect"))
    refused = await browser.post(
        "/ui/collect", data={"url": GENRE_TOP100_PATH, "csrf_token": token}, headers=SAME_SITE
    )
    assert refused.status_code == 403
    assert "has the read scope; collecting needs the write scope" in refused.text
    schedules = await browser.post(
        "/ui/schedules", data={"cron": "0 6 * * *", "csrf_token": token}, headers=SAME_SITE
    )
    assert schedules.status_code == 403 and "changing schedules needs the admin scope" in schedules.text


async def test_collect_then_browse_filter_and_export(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_KEY)
    token = csrf_of(await browser.get("/ui/collect"))
    bad = await browser.post(
        "/ui/collect", data={"url": "https://example.com/nope", "csrf_token": token}, headers=SAME_SITE
    )
    assert bad.status_code == 422 and 'id="collect-error"' in bad.text and "genre Top 100" in bad.text

    started = await browser.post(
        "/ui/collect", data={"url": GENRE_TOP100_PATH, "csrf_token": token}, headers=SAME_SITE
    )
    assert started.status_code == 303 and started.headers["location"].startswith("/ui/tasks/")
    finished = await wait_for_success(browser, started.headers["location"])
    assert "tracks_created" in finished

    tasks = await browser.get("/ui/tasks", params={"state": "success"})
    assert started.headers["location"] in tasks.text and "collect_bp_tracks" in tasks.text
    assert "tracks seen 100 · tracks created 100" in tasks.text
    running = await browser.get("/ui/tasks", params={"state": "running"})
    assert "No task matches." in running.text
    unknown_state = await browser.get("/ui/tasks", params={"state": "sleeping"})
    assert unknown_state.status_code == 422 and "state: one of queued" in unknown_state.text

    listed = await browser.get("/ui/tracks")
    assert listed.text.count('<a href="/ui/tracks/') == 100 and ">100 tracks<" in listed.text
    narrow = await browser.get("/ui/tracks", params={"bpm_min": "125", "bpm_max": "128", "label": ""})
    shown = set(re.findall(r'<a href="/ui/tracks/(\d+)">', narrow.text))
    assert 0 < len(shown) < 100
    exported = await browser.get("/ui/tracks.csv", params={"bpm_min": "125", "bpm_max": "128"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["id"] for row in rows} == shown
    assert all(125 <= int(row["bpm"]) <= 128 for row in rows)

    refused = await browser.get("/ui/tracks", params={"bpm_min": "fast"})
    assert refused.status_code == 422 and "bpm_min" in refused.text

    track_id = sorted(shown)[0]
    track = await browser.get(f"/ui/tracks/{track_id}")
    assert track.status_code == 200 and "<polyline" in track.text and "genre-top-100-11" in track.text
    charts = await browser.get("/ui/charts")
    assert "/ui/charts/genre-top-100-11" in charts.text
    chart = await browser.get("/ui/charts/genre-top-100-11")
    assert chart.text.count('<td class="num">') == 100
    once = await browser.get("/ui/charts/genre-top-100-11/movers")
    assert once.status_code == 409 and "collected once" in once.text


async def test_match_review_lists_unmatched_and_low_scores(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, ADMIN_KEY)
    token = csrf_of(await browser.get("/ui/collect"))
    started = await browser.post(
        "/ui/collect", data={"url": GENRE_TOP100_PATH, "csrf_token": token}, headers=SAME_SITE
    )
    await wait_for_success(browser, started.headers["location"])
    unmatched, doubtful, *_ = (await browser.get("/ui/tracks")).text.split('<a href="/ui/tracks/')[1:3]
    unmatched_id, doubtful_id = int(unmatched.split('"')[0]), int(doubtful.split('"')[0])
    async with embedded_app.state.resources.sessions.begin() as session:
        await session.execute(
            update(Track).where(Track.id == unmatched_id).values(spotify_match_method="none")
        )
        await session.execute(
            update(Track)
            .where(Track.id == doubtful_id)
            .values(spotify_match_method="search", spotify_match_score=0.55, spotify_id="0" * 22)
        )
    review = await browser.get("/ui/review")
    assert set(re.findall(r'<a href="/ui/tracks/(\d+)">', review.text)) == {str(unmatched_id)}
    low = await browser.get("/ui/review", params={"show": "low-score"})
    assert set(re.findall(r'<a href="/ui/tracks/(\d+)">', low.text)) == {str(doubtful_id)}
    assert '<span class="hint" data-field="match">search 0.55</span>' in low.text  # the score, in the list
    sort_links = re.findall(r'<a href="\?([^"]+)">', low.text)
    assert sort_links and all("show=low-score" in link for link in sort_links)  # the view survives sorting
    resorted = await browser.get("/ui/review?" + sort_links[0].replace("&amp;", "&"))
    assert set(re.findall(r'<a href="/ui/tracks/(\d+)">', resorted.text)) == {str(doubtful_id)}
    track = await browser.get(f"/ui/tracks/{doubtful_id}")
    assert 'id="spotify-method">search<' in track.text and "0.55" in track.text


async def test_manual_match_and_schedules_answer_in_the_apis_words(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_KEY)
    token = csrf_of(await browser.get("/ui/schedules"))
    unknown = await browser.post(
        "/ui/tracks/123/spotify",
        data={"spotify_id": "abc", "decision": "set", "csrf_token": token},
        headers=SAME_SITE,
    )
    assert unknown.status_code == 404 and "No track with id 123" in unknown.text
    schedules = await browser.get("/ui/schedules")
    assert "Schedules need REDIS_URL" in schedules.text  # embedded mode has no scheduler
    health = await browser.get("/ui/health")
    assert health.status_code == 200 and "not durable" in health.text


async def test_cancel_and_dead_letter_retry_from_the_pages(
    embedded_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with embedded_app.state.resources.sessions.begin() as session:
        await dead_letters.record(
            session,
            task_id="f" * 32,
            task_name="collect_bp_tracks",
            kwargs={"target": GENRE_TOP100_PATH, "max_pages": None},
            error_type="PermanentSourceError",
            error_message="Beatport answered 410",
            traceback="Traceback: /srv/secret_path.py",
            attempts=1,
            first_failed_at=now,
            last_failed_at=now,
        )
    await sign_in(browser, await make_key(embedded_app, "writer", Scope.write))
    letters = await browser.get("/ui/dead-letters")
    assert "Beatport answered 410" in letters.text and "secret_path" not in letters.text  # admins only
    token = csrf_of(letters)
    refused = await browser.post("/ui/dead-letters/1/retry", data={"csrf_token": token}, headers=SAME_SITE)
    assert refused.status_code == 403 and "needs the admin scope" in refused.text

    await sign_in(browser, ADMIN_KEY)
    letters = await browser.get("/ui/dead-letters")
    assert "secret_path" in letters.text
    retried = await browser.post(
        "/ui/dead-letters/1/retry", data={"csrf_token": csrf_of(letters)}, headers=SAME_SITE
    )
    assert retried.status_code == 303
    task_page = retried.headers["location"]
    await wait_for_success(browser, task_page)
    finished = await browser.post(
        f"{task_page}/cancel", data={"csrf_token": csrf_of(letters)}, headers=SAME_SITE
    )
    assert finished.status_code == 409 and "already ended (success)" in finished.text
    assert "retried as" in (await browser.get("/ui/dead-letters")).text


async def test_pages_answer_their_refusals_as_pages(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, ADMIN_KEY)
    malformed = await browser.get("/ui/tracks/not-a-number")
    assert malformed.status_code == 422 and malformed.headers["content-type"].startswith("text/html")
    assert "track_id" in malformed.text
    missing = await browser.get("/ui/nowhere")
    assert missing.status_code == 404 and "There is no such page." in missing.text
    api = await browser.get("/tracks/not-a-number")  # the API keeps its JSON
    assert api.headers["content-type"] == "application/json"
