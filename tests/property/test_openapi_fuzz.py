"""No request generated from the app's own OpenAPI schema gets a 5xx, nor a status or a body
the schema does not document.

schemathesis generates requests for every documented operation, valid ones (positive) and
ones that break the schema (negative), and sends them to the ASGI app in-process (fakeredis
queue, a stub store). The suite sends FUZZ_EXAMPLES (default 200) requests; `make fuzz`
sends 100,000. schemathesis' own pytest integration (`from_fixture`) does not run under
pytest 9, so its strategies drive a plain Hypothesis test here.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from redis import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from shared.settings import Settings
from tests.support.apps import api_client

pytestmark = pytest.mark.integration  # the reads run on real chDB (the `migrated` fixture)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
_ROUND = 5_000  # examples per Hypothesis run: long fuzzes are many runs, each with fresh seeds
_AUTH = {"Authorization": "Bearer test-admin-token"}  # the conftest settings' token: reach the read paths
# Beyond "no 5xx": every answer has a documented status and the documented body shape.
_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# schemathesis has no serializer for application/x-ndjson, so it never generated a /batch body of
# that type and the NDJSON path went unfuzzed. Its schema is a string: send it as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture
def schema(settings: Settings, fake_redis: Redis, migrated: Client) -> Any:
    # Every read (GET by id, /readyz, /api/query, /api/export) runs on a real, migrated (empty)
    # chDB database, so generated queries really execute.
    # Backpressure off: its 503 for a queue nothing drains is by design (and tested elsewhere).
    quiet = settings.model_copy(update={"backpressure_check_interval_ms": 0})
    app = api_client(quiet, fake_redis, store=migrated).app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.fuzz
@pytest.mark.timeout(max(60, FUZZ_EXAMPLES // 10))  # a request takes 30-60 ms: twice that, at least 60 s
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_5xx(schema: Any, fake_redis: Redis, mode: GenerationMode) -> None:
    target = max(1, FUZZ_EXAMPLES // 2)
    sent = 0
    statuses: dict[int, int] = {}

    def fuzz(examples: int) -> None:
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,  # nothing replayed from disk; a failure prints its curl reproduction
            suppress_health_check=list(HealthCheck),
        )
        @given(case=schema.as_strategy(mode))
        def send(case: Any) -> None:
            nonlocal sent
            response = case.call(headers=_AUTH)
            sent += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=_CHECKS)

        send()

    started = time.monotonic()
    while sent < target:
        before = sent
        fuzz(min(_ROUND, target - sent))
        fake_redis.flushall()  # queued jobs are never drained here
        assert sent > before, "Hypothesis generated no request"
    print(
        f"\n{mode.value}: {sent} requests in {time.monotonic() - started:.1f} s, statuses {sorted(statuses.items())}"
    )
