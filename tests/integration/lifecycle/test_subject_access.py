"""A subject access request: POST /api/export filtered on user_email, user_id or visitor_id
returns that person's events and nobody else's; those columns filter but never group (a
group-by would list people), and a stats key may not filter on them."""

from __future__ import annotations

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.stored import store_events

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer test-admin-token"}
PEOPLE = [("ann@example.com", "u-ann", "v-ann"), ("bo@example.com", "u-bo", "v-bo")]


def test_an_export_filtered_on_one_person_holds_their_events_only(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    events = [
        {"event_id": f"{user}-{i}", "event_type": "click", "user_email": email, "user_id": user, "visitor_id": visitor}
        for email, user, visitor in PEOPLE
        for i in range(3)
    ]
    store_events(migrated, settings.clickhouse_database, events)
    with api_client(settings, real_redis, migrated) as client:
        for column, value in (("user_email", "ann@example.com"), ("user_id", "u-ann"), ("visitor_id", "v-ann")):
            body = {"format": "ndjson", "date_range": "all", "filters": [["is", column, [value]]]}
            answer = client.post("/api/export", json=body, headers=ADMIN)
            assert answer.status_code == 200, answer.text
            rows = [orjson.loads(line) for line in answer.text.splitlines() if line]
            assert sorted(r["event_id"] for r in rows) == ["u-ann-0", "u-ann-1", "u-ann-2"]
            assert {r["user_email"] for r in rows} == {"ann@example.com"}
        grouped = client.post("/api/query", json={"metrics": ["events"], "dimensions": ["user_email"]}, headers=ADMIN)
        assert grouped.status_code == 400 and "not grouped by" in grouped.json()["error"]
