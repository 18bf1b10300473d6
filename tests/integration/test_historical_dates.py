"""Importing historical clicks: any date DateTime64(3) holds is stored as sent, through the
real API, Redis, worker and chDB; a date it cannot hold is a 400 in the contract's shape."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import drain, real_writer

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-admin-token"}


def test_events_from_2019_and_1901_are_stored_and_read_back(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    assert settings.max_past_days == 0  # the default: no past window
    client = api_client(settings, real_redis, migrated)
    sent = {"old-2019": "2019-03-14T15:09:26.535Z", "old-1901": "1901-01-01T00:00:00.000Z"}
    for event_id, when in sent.items():
        response = client.post("/api/events/track", json=basic_event(event_id=event_id, event_time=when))
        assert response.status_code == 201, response.text
    drain(real_redis, settings, real_writer(migrated, settings))
    for event_id, when in sent.items():
        stored = client.get(f"/api/events/{event_id}", headers=AUTH).json()
        assert (stored["status"], stored["event_time"]) == ("stored", when)


def test_1899_is_a_400(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    client = api_client(settings, real_redis, migrated)
    response = client.post("/api/events/track", json=basic_event(event_time="1899-12-31T23:59:59Z"))
    assert response.status_code == 400
    assert response.json() == {"error": "event_time: must be between 1900-01-01 and 2299-12-31"}


def test_a_batch_spanning_150_months_is_stored_whole(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    # ClickHouse refuses an insert touching more than 100 partitions (months) by default.
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-15T12:00:00Z" for i in range(150)]
    events = [basic_event(event_id=f"month-{i}", event_time=when) for i, when in enumerate(months)]
    client = api_client(settings, real_redis, migrated)
    response = client.post("/api/events/batch", json=events)
    assert response.status_code == 201, response.text
    drain(real_redis, settings, real_writer(migrated, settings))
    db = settings.clickhouse_database
    stored = migrated.query(f"SELECT count(), uniqExact(toYYYYMM(event_time)) FROM {db}.events").result_rows
    assert stored == [(150, 150)]
