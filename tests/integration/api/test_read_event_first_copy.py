"""GET /api/events/{id} answers with the first-received copy of an event, also when its copies
did not collapse into one row: sent with another link_id (part of the sorting key), each copy
stays a row of its own even under FINAL, and the read must still pick the first received."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.event.parse import RequestContext, parse_event
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import detailed_event
from tests.support.workers import drain, real_writer
from worker.writer import EventWriter

pytestmark = pytest.mark.integration
TRACK = "/api/events/track"
AUTH = {"Authorization": "Bearer test-admin-token"}


def _final_rows(store: Client, settings: Settings, event_id: str) -> int:
    table = f"{settings.clickhouse_database}.events FINAL"
    return int(str(store.command(f"SELECT count() FROM {table} WHERE event_id = '{event_id}'")))


def test_copies_with_another_link_read_as_the_first_received(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    copies = [
        detailed_event(event_id="order-2002", link_id="link-first", user_email="buyer@example.com"),
        detailed_event(event_id="order-2002", link_id="link-second", user_email="second@example.com"),
        detailed_event(event_id="order-2002", link_id="link-third", user_email="third@example.com"),
    ]
    for copy in copies:  # received (and stored) one after the other
        assert client.post(TRACK, json=copy).status_code == 201
        drain(real_redis, settings, real_writer(migrated, settings))
        time.sleep(0.01)  # another millisecond of received_at, whatever the clock's grain
    assert _final_rows(migrated, settings, "order-2002") == len(copies)  # none collapsed
    response = client.get("/api/events/order-2002", headers=AUTH)
    assert response.status_code == 200
    stored = response.json()
    assert (stored["link_id"], stored["user_email"]) == ("link-first", "buyer@example.com")


def _write(store: Client, settings: Settings, event: dict[str, Any], received_at: datetime) -> None:
    row = parse_event(event, RequestContext(received_at=received_at))
    columns = list(row)
    EventWriter(store, settings.clickhouse_database).write(
        columns, [[row[c]] for c in columns], token=uuid.uuid4().hex
    )


def test_the_first_received_copy_wins_even_when_inserted_last(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    # A job that waited for a retry is inserted after a copy the client sent later.
    received = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    later = detailed_event(event_id="order-3003", link_id="link-later", user_email="later@example.com")
    first = detailed_event(event_id="order-3003", link_id="link-first", user_email="first@example.com")
    _write(migrated, settings, later, received + timedelta(seconds=5))
    time.sleep(0.01)  # inserted_at: the first-received copy is the last inserted
    _write(migrated, settings, first, received)
    assert _final_rows(migrated, settings, "order-3003") == 2
    stored = api_client(settings, real_redis, migrated).get("/api/events/order-3003", headers=AUTH).json()
    assert (stored["link_id"], stored["user_email"], stored["received_at"]) == (
        "link-first",
        "first@example.com",
        "2026-11-02T12:00:00.000Z",
    )
