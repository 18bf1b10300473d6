"""What the schemathesis run (tests/property/test_openapi_fuzz.py, `st run`) found, replayed
through schemathesis itself, so each answer is checked against the app's own OpenAPI schema."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
import schemathesis
from clickhouse_connect.driver.client import Client
from redis import Redis
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from shared.settings import Settings
from tests.support.apps import api_client

_AUTH = {"Authorization": "Bearer test-admin-token"}
schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # as the fuzz test does


@pytest.fixture
def schema(settings: Settings, fake_redis: Redis) -> Any:
    store = cast(Client, SimpleNamespace(command=lambda *_, **__: 1))
    app = api_client(settings, fake_redis, store=store).app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize(
    ("body", "media_type", "error"),
    [
        # Found: 400 {"error": "body: empty; expected a JSON object"}, documented as BatchRejected
        # (success, accepted, ... required): a body that is not events has no results to report.
        (None, None, "body: empty; expected a JSON object"),
        ([], "application/json", "body: no events"),
        ({"event_type": "click"}, "application/json", "body: expected a JSON array of events"),
        ("", "application/x-ndjson", "body: no events"),
        # No event valid: the documented BatchRejected, which requires "dropped" (it was left out).
        ([{"event_type": 1}], "application/json", "no valid events"),
    ],
)
def test_batch_400s_are_in_the_documented_shape(
    schema: Any, body: Any, media_type: str | None, error: str
) -> None:
    operation = schema["/api/events/batch"]["POST"]
    case = operation.Case(body=body, media_type=media_type) if media_type else operation.Case()
    response = case.call()  # ingestion takes write keys, not the admin token
    assert response.status_code == 400 and response.json()["error"].startswith(error)
    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )


def test_an_empty_batch_is_not_documented_as_valid(schema: Any) -> None:
    # `[]` was generated as a valid body (then refused, "body: no events"): the schema now says minItems.
    body_schema = schema["/api/events/batch"]["POST"].definition.raw["requestBody"]["content"]
    arrays = body_schema["application/json"]["schema"]["oneOf"]
    assert arrays[0]["minItems"] == 1 and arrays[1]["properties"]["events"]["minItems"] == 1
