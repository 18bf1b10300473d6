"""Events from a real browser arrive enriched in ClickHouse; bots can be dropped; sessions span jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from api.responses import DROPPED_HEADER
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import drain, real_writer

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-admin-token"}
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"
SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"


def stored(client: Any, event_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/events/{event_id}", headers=AUTH).json()
    assert body["status"] == "stored", body
    return body


def test_a_browser_event_arrives_enriched(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    client = api_client(settings, real_redis, migrated)
    response = client.post(
        "/api/events/track", json=basic_event(project_id="p1"), headers={"User-Agent": FIREFOX_ANDROID}
    )
    assert response.status_code == 201 and DROPPED_HEADER not in response.headers
    drain(real_redis, settings, real_writer(migrated, settings))
    event = stored(client, response.json()["event_id"])
    assert (event["device_type"], event["browser"], event["os"]) == ("mobile", "Firefox Mobile", "Android")
    assert event["is_bot"] is False and event["event_time_clamped"] is False
    assert len(event["visitor_id"]) == 36 and len(event["session_id"]) == 36  # hash and assigned session


def test_same_visitor_same_session_across_jobs_until_idle(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    now = datetime.now(UTC)
    ids = []
    for minutes in (0, 10, 55):  # a gap of 45 minutes starts a new session
        event = basic_event(project_id="p1", event_time=(now - timedelta(minutes=60 - minutes)).isoformat())
        ids.append(
            client.post("/api/events/track", json=event, headers={"User-Agent": SAFARI_MAC}).json()[
                "event_id"
            ]
        )
        drain(real_redis, settings, real_writer(migrated, settings))  # one job at a time
    first, second, third = (stored(client, event_id) for event_id in ids)
    assert first["visitor_id"] == second["visitor_id"] == third["visitor_id"]
    assert first["session_id"] == second["session_id"] != third["session_id"]


def test_bots_dropped_when_asked_and_counted(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    dropping = settings.model_copy(update={"drop_bots": True})
    client = api_client(dropping, real_redis, migrated)
    response = client.post("/api/events/track", json=basic_event(), headers={"User-Agent": BINGBOT})
    assert response.status_code == 201 and response.headers[DROPPED_HEADER] == "bot"
    assert response.json()["message"] == "Event tracked successfully"  # the contract's shape
    batch = client.post(
        "/api/events/batch",
        json=[
            basic_event(event_id="human", user_agent=SAFARI_MAC),
            basic_event(event_id="crawler", user_agent=BINGBOT),
        ],
    ).json()
    assert batch["accepted"] == 1 and batch["dropped"] == 1
    assert batch["results"][1] == {"index": 1, "event_id": "crawler", "status": "dropped", "reason": "bot"}
    drain(real_redis, dropping, real_writer(migrated, dropping))
    ids = migrated.query(f"SELECT event_id FROM {settings.clickhouse_database}.events").result_rows
    assert [row[0] for row in ids] == ["human"]
