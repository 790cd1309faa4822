"""`BEATPORT_SOURCE=auto` through the real api and `taskiq worker`: a challenged page switches the collection to
the Beatport API (fake, on loopback), and the challenge memory in Redis sends the next collection straight to
the API, whichever worker process runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import api
from tests.e2e.conftest import deployment
from tests.e2e.processes import wait_for_state
from tests.fakes.beatport import TOP100_PATH, FakeBeatport
from tests.fakes.beatport_api import FakeBeatportApi
from tests.fixtures.beatport import GENRE_TOP100_PATH

pytestmark = pytest.mark.e2e


def test_auto_switches_to_the_api_and_remembers_the_challenge(tmp_path: Path) -> None:
    with FakeBeatport() as site, FakeBeatportApi() as beatport_api:
        site.challenge(GENRE_TOP100_PATH)
        site.challenge(TOP100_PATH)
        settings = {
            "BEATPORT_SOURCE": "auto",
            "BEATPORT_API_URL": beatport_api.api_url,
            "BEATPORT_USERNAME": beatport_api.username,
            "BEATPORT_PASSWORD": beatport_api.password,
            "BEATPORT_API_REQUESTS_PER_SECOND": "50",
            "BEATPORT_FETCH_ATTEMPTS": "2",
        }
        with deployment(tmp_path, site, settings=settings) as d:
            results = []
            for body in ({"genre": "tech-house"}, {"url": TOP100_PATH}):
                response = api.post(f"{d.base}/collect/beatport/collect", json=body)
                assert response.status_code == 202, response.text
                done = wait_for_state(d.base, response.json()["task_id"], {"success", "failure"}, timeout=60)
                assert done["state"] == "success", f"{done}\n{d.logs()}"
                results.append(done["result"])
        first, second = results
        assert first["sources"] == ["page 1: api (page challenged; used the API)"]
        assert first["tracks_created"] == 100
        assert len(site.requests_to(GENRE_TOP100_PATH)) == 2  # BEATPORT_FETCH_ATTEMPTS, then the switch
        assert second["sources"][0].startswith("page 1: api (pages challenged at ")
        assert "using the API until" in second["sources"][0]
        assert second["tracks_seen"] == 100
        assert site.requests_to(TOP100_PATH) == []  # remembered: the challenged site was not asked again
        assert beatport_api.logins == 1  # one token, shared through Redis
