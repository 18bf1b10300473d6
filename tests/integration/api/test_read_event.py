"""GET /api/events/{id} on the real store: a re-sent id reads as its first copy, and an id two
teams chose reads as neither until the caller names the team and project."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.audit import inserted
from tests.support.builders import detailed_event
from tests.support.workers import drain, real_writer

pytestmark = pytest.mark.integration
TRACK = "/api/events/track"
AUTH = {"Authorization": "Bearer test-admin-token"}


def test_a_later_copy_of_an_event_does_not_overwrite_the_first(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    first = detailed_event(event_id="order-1001", user_email="buyer@example.com", conversion_value=99.99)
    later = detailed_event(event_id="order-1001", user_email="attacker@example.com", conversion_value=0)
    for event in (first, later):  # stored one after the other: received milliseconds apart at least
        assert client.post(TRACK, json=event).status_code == 201
        drain(real_redis, settings, real_writer(migrated, settings))
    assert inserted(migrated, settings.clickhouse_database)["order-1001"] == 2  # both rows landed...
    stored = client.get("/api/events/order-1001", headers=AUTH).json()
    assert (stored["user_email"], stored["conversion_value"]) == ("buyer@example.com", 99.99)  # ...first wins
    final = migrated.query(
        f"SELECT user_email FROM {settings.clickhouse_database}.events FINAL WHERE event_id = 'order-1001'"
    ).result_rows
    assert final == [("buyer@example.com",)]  # and so does every FINAL query (the read side's)


def test_an_id_two_teams_chose_is_not_answered_with_either_event(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    ours = detailed_event(event_id="evt-1", team_id="team-a", project_id="p-a", user_email="a@example.com")
    theirs = detailed_event(event_id="evt-1", team_id="team-b", project_id="p-b", user_email="b@example.com")
    client.post("/api/events/batch", json=[ours, theirs])
    drain(real_redis, settings, real_writer(migrated, settings))

    response = client.get("/api/events/evt-1", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["matches"] == [
        {"team_id": "team-a", "project_id": "p-a"},
        {"team_id": "team-b", "project_id": "p-b"},
    ]
    assert "team_id and project_id" in response.json()["error"]
    for team, project, email in (("team-a", "p-a", "a@example.com"), ("team-b", "p-b", "b@example.com")):
        one = client.get(f"/api/events/evt-1?team_id={team}&project_id={project}", headers=AUTH)
        assert one.status_code == 200 and one.json()["user_email"] == email
    assert client.get("/api/events/evt-1?team_id=team-c", headers=AUTH).status_code == 404
