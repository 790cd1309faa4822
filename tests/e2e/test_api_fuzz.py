"""schemathesis against the API's own OpenAPI schema, on the real app (uvicorn, PostgreSQL, Redis): every
generated request gets a documented answer that matches its schema, and never a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.auth import ADMIN_HEADERS
from tests.e2e import api
from tests.e2e.conftest import Deployed, deployment
from tests.e2e.processes import wait_for_state
from tests.fakes.server import FakeHTTPServer

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 60
# The list (server errors, documented status codes, response schemas, content types), response
# headers, and that schema-invalid input is refused. Not `positive_data_acceptance`: a schema-valid URL may
# still name a page Cratedigger does not collect, and that 422 is the right answer.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with (
        FakeHTTPServer() as site,
        deployment(
            Path(tmp_path_factory.mktemp("fuzz")),
            site,
            # A worker, so /health is 200; the collections it runs find nothing at the empty fake site.
            SPOTIFY_CLIENT_ID="fuzz",
            SPOTIFY_CLIENT_SECRET="fuzz",
        ) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzzed: Deployed) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{fuzzed.base}/openapi.json")
    # Each case is sent with the admin key (ADMIN_HEADERS): a mutated Authorization header would be replaced,
    # and the check would then blame the rest of the request for a negation that was never sent.
    schema.config.generation.update(with_security_parameters=False)
    return schema


def _fuzz(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> str | None:
    """Run one operation's generated cases; the first failure in words, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # a fixed seed: the same cases every run
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure, bounded in time
    )
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS, headers=ADMIN_HEADERS)  # the admin key reaches every operation

    try:
        check()
    except Unsatisfiable:  # negative mode of an operation with no input to get wrong
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # schemathesis's FailureGroup: each check's failure, in its words
        return f"{mode} {operation.label}: {str(error)[:1500]}"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(api_schema: BaseSchema, mode: GenerationMode) -> None:
    results = list(api_schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 12  # the schema is valid, and the walk found the API
    failures = [failure for op in operations if (failure := _fuzz(op, mode)) is not None]
    assert failures == [], "\n\n".join(failures)


def test_a_finished_tasks_event_stream_answers_as_documented_and_at_once(
    fuzzed: Deployed, api_schema: BaseSchema
) -> None:
    """Generated task ids are unknown (404), so the event stream's own 200 is checked here, on a real task:
    schemathesis reads it whole, which a finished task's stream allows at once (one event, then the end)."""
    accepted = api.post(f"{fuzzed.base}/collect/beatport/collect", json={"url": "/release/fuzz/1"})
    assert accepted.status_code in (200, 202), accepted.text
    task_id = accepted.json()["task_id"]
    wait_for_state(fuzzed.base, task_id, {"success", "failure", "cancelled"})
    operation = api_schema["/tasks/{task_id}/events"]["GET"]
    started = time.monotonic()
    response = operation.Case(path_parameters={"task_id": task_id}).call_and_validate(
        checks=CHECKS, headers=ADMIN_HEADERS
    )
    assert time.monotonic() - started < 5
    assert response.status_code == 200 and response.text.startswith("event: status\ndata: {")
