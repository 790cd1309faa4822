"""Driving the dashboard in-process like a browser: signing in, the forms' CSRF token, following a task page."""

from __future__ import annotations

import asyncio
import re

import httpx

BASE = "http://cratedigger.test"
SAME_SITE = {"Origin": BASE}


async def sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await http.get("/ui/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    return await http.post(
        "/ui/login", data={"login_token": token.group(1), "key": key, "next": "/ui/tracks"}, headers=SAME_SITE
    )


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def wait_for_success(browser: httpx.AsyncClient, task_page: str) -> str:
    for _ in range(600):
        page = await browser.get(task_page)
        state = re.search(r'id="task-state"[^>]*class="state state-(\w+)"', page.text)
        assert state is not None, page.text
        if state.group(1) in ("success", "failure", "cancelled"):
            assert state.group(1) == "success", page.text
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_page} did not finish")
