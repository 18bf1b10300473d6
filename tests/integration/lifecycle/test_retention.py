"""Retention on a real chDB: a project with retention_days 30 over events spanning a year.
Queries, exports and reads by id show only the last 30 days at once (before anything is
deleted), and as the reads' clock moves on; then enforcement deletes the rest from the store,
dropping whole months where every project in them expired. Expected figures come from the
fixture's own event times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from redis import Redis

from shared.registry.connect import registry_store
from shared.registry.model import ProjectIn, TeamIn
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.stored import store_events
from worker.lifecycle import enforce_retention

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer test-admin-token"}
NOW = datetime.now(UTC).replace(microsecond=0)
DAYS = range(0, 365, 3)
"""An event every three days over the last year, in each project."""


def events(project: str) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{project}-{day}", "event_type": "click", "project_id": project, "team_id": "t",
         "event_time": (NOW - timedelta(days=day, hours=1)).isoformat().replace("+00:00", "Z")}
        for day in DAYS
    ]


def kept(project_days: int, at: datetime, project: str) -> list[str]:
    """The fixture's events of `project` younger than `project_days` at `at`."""
    cutoff = at - timedelta(days=project_days)
    return sorted(e["event_id"] for e in events(project) if datetime.fromisoformat(e["event_time"]) >= cutoff)


def count(client: TestClient, project: str) -> int:
    body = {"metrics": ["events"], "date_range": ["2000-01-01", "2100-01-01"], "filters": [["is", "project_id", [project]]]}
    answer = client.post("/api/query", json=body, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["results"][0]["metrics"][0])


def exported(client: TestClient, project: str) -> list[str]:
    body = {"format": "ndjson", "date_range": ["2000-01-01", "2100-01-01"], "filters": [["is", "project_id", [project]]]}
    answer = client.post("/api/export", json=body, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return sorted(orjson.loads(line)["event_id"] for line in answer.text.splitlines() if line)


def raw_ids(store: Client, settings: Settings, project: str) -> list[str]:
    rows = store.query(
        f"SELECT event_id FROM {settings.clickhouse_database}.events WHERE project_id = {{p:String}}",
        parameters={"p": project},
    ).result_rows
    return sorted(str(r[0]) for r in rows)


@pytest.fixture
def registered(real_redis: Redis, settings: Settings) -> None:
    store = registry_store(real_redis, settings)
    store.create_team(TeamIn(team_id="t", name="T"))
    store.create_project(ProjectIn(project_id="short", team_id="t", name="Short", retention_days=30))
    store.create_project(ProjectIn(project_id="kept", team_id="t", name="Kept"))  # the default: forever


def test_reads_show_only_the_retention_window_and_the_store_drops_the_rest(
    real_redis: Redis, migrated: Client, settings: Settings, registered: None
) -> None:
    store_events(migrated, settings.clickhouse_database, [*events("short"), *events("kept")])
    with api_client(settings, real_redis, migrated) as client:
        assert count(client, "short") == len(kept(30, NOW, "short")) and count(client, "kept") == len(DAYS)
        assert exported(client, "short") == kept(30, NOW, "short")
        old = f"short-{DAYS[-1]}"
        assert client.get(f"/api/events/{old}", headers=ADMIN).status_code == 404
        assert client.get("/api/events/short-0", headers=ADMIN).status_code == 200
        assert client.get(f"/api/events/kept-{DAYS[-1]}", headers=ADMIN).status_code == 200

        later = NOW + timedelta(days=10)  # the reads' clock moves: ten more days have expired
        client.app.state.reads.clock = lambda: later  # type: ignore[attr-defined]
        assert exported(client, "short") == kept(30, later, "short") != kept(30, NOW, "short")
        # Nothing was deleted yet: every row is still in the table.
        assert len(raw_ids(migrated, settings, "short")) == len(DAYS)

        report = enforce_retention(real_redis, settings, migrated, NOW)
        assert report.partitions_dropped == []  # "kept" keeps every month
        assert raw_ids(migrated, settings, "short") == kept(30, NOW, "short")
        assert report.rows_deleted == len(DAYS) - len(kept(30, NOW, "short"))
        assert raw_ids(migrated, settings, "kept") == sorted(e["event_id"] for e in events("kept"))
        assert enforce_retention(real_redis, settings, migrated, NOW).rows_deleted == 0  # idempotent


def test_months_where_everything_expired_are_dropped_whole(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """The deployment's default (90 days) for projects the registry does not know."""
    ninety = settings.model_copy(update={"retention_days": 90})
    store_events(migrated, settings.clickhouse_database, [*events("a"), *events("b")])
    report = enforce_retention(real_redis, ninety, migrated, NOW)
    cutoff = NOW - timedelta(days=90)
    whole_months = {
        int(datetime.fromisoformat(e["event_time"]).strftime("%Y%m"))
        for e in events("a")
        if datetime.fromisoformat(e["event_time"]) < cutoff.replace(day=1, hour=0, minute=0, second=0)
    }
    assert set(report.partitions_dropped) == whole_months and whole_months
    assert raw_ids(migrated, settings, "a") == kept(90, NOW, "a")
    assert raw_ids(migrated, settings, "b") == kept(90, NOW, "b")
    assert report.rows_in_dropped + report.rows_deleted == 2 * (len(DAYS) - len(kept(90, NOW, "a")))
    with api_client(ninety, real_redis, migrated) as client:
        assert count(client, "a") == len(kept(90, NOW, "a"))
