"""POST → real Redis → RQ worker → chDB, in one process; faults injected at the writer seam."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.registry import FailedJobRegistry

from shared.queue.connect import connect_redis
from shared.queue.jobs import enqueue_rows, events_queue, job_rows
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from shared.store.migrate import load_migrations, migrate
from shared.store.schema import TABLE_COLUMNS
from tests.support.apps import api_client
from tests.support.audit import inserted, once_each
from tests.support.builders import basic_event, detailed_event, queue_row, stringly_event
from tests.support.workers import FailingWriter, count_rows, drain, real_writer
from worker.writer import Columns

pytestmark = pytest.mark.integration
TRACK = "/api/events/track"
AUTH = {"Authorization": "Bearer test-admin-token"}


def track_and_store(
    settings: Settings, redis: Redis, store: Client, event: dict[str, Any], **headers: str
) -> dict[str, Any]:
    client = api_client(settings, redis, store)
    response = client.post(TRACK, json=event, headers=headers)
    assert response.status_code == 201, response.text
    drain(redis, settings, real_writer(store, settings))
    read = client.get(f"/api/events/{response.json()['event_id']}", headers=AUTH)
    assert read.status_code == 200, read.text
    stored: dict[str, Any] = read.json()
    return stored


def test_schema_matches_the_code_and_migrations_are_idempotent(migrated: Client, settings: Settings) -> None:
    db = settings.clickhouse_database
    described = [row[0] for row in migrated.query(f"DESCRIBE TABLE {db}.events").result_rows]
    assert described == list(TABLE_COLUMNS)
    assert migrate(migrated, db) == []  # nothing left to apply
    versions = {row[0] for row in migrated.query(f"SELECT version FROM {db}.schema_migrations").result_rows}
    assert versions == {m.version for m in load_migrations()}


def test_detailed_example_arrives_field_for_field(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    stored = track_and_store(
        settings,
        real_redis,
        migrated,
        detailed_event(),
        **{"User-Agent": "Mozilla/5.0 test", "Referer": "https://mail.example/"},
    )
    expected = detailed_event()
    for field in expected:
        assert stored[field] == expected[field], field
    assert stored["ip_address"] == "203.0.113.7"
    assert stored["user_agent"] == "Mozilla/5.0 test" and stored["referrer"] == "https://mail.example/"
    assert stored["is_qr_scan"] is False and stored["link_tags"] == []
    assert stored["session_id"] and stored["event_time"].endswith("Z")
    assert stored["inserted_at"] >= stored["received_at"]


def test_json_strings_offsets_and_unicode_arrive_normalised(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    sent = stringly_event()
    stored = track_and_store(settings, real_redis, migrated, sent)
    assert stored["event_id"] == "evt-ünïcode-1"
    assert stored["event_time"] == "2024-05-01T12:30:15.123Z"
    assert stored["link_created_at"] == "2024-02-01T04:00:00.000Z"
    assert stored["link_expires_at"] == "2025-01-01T00:00:00.000Z"
    assert stored["event_attributes"] == {"page": "/über", "emoji": "🎉", "nested": {"n": [1, 2]}}
    assert stored["link_attributes"] == {"campaign": "été"}
    assert stored["link_tags"] == ["promo", "été", "标签"]
    assert stored["time_spent_sec"] == 12.5 and stored["is_qr_scan"] is True
    for field in ("link_label", "link_title", "user_name", "team_name", "city", "ip_address", "user_agent"):
        assert stored[field] == sent[field], field
    partition = migrated.command(
        f"SELECT _partition_id FROM {settings.clickhouse_database}.events WHERE event_id = {{id:String}}",
        parameters={"id": sent["event_id"]},
    )
    assert str(partition) == "202405"  # monthly partitions, by the UTC event time


def test_delivery_status_queued_then_stored(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    client = api_client(settings, real_redis, migrated)
    assert client.get("/api/events/never-sent", headers=AUTH).json() == {"error": "Event not found"}
    event_id = client.post(TRACK, json=basic_event()).json()["event_id"]
    queued = client.get(f"/api/events/{event_id}", headers=AUTH).json()
    assert queued["status"] == "queued" and queued["event_id"] == event_id and queued["job_id"]
    drain(real_redis, settings, real_writer(migrated, settings))
    stored = client.get(f"/api/events/{event_id}", headers=AUTH).json()
    assert stored["status"] == "stored" and stored["event_id"] == event_id and stored["link_id"] == "abc123"


def test_delivery_status_failed_with_reason(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    client = api_client(settings, real_redis, migrated)
    first = client.post(TRACK, json=basic_event()).json()["event_id"]
    second = client.post(TRACK, json=basic_event()).json()["event_id"]  # merged into the first's insert
    drain(real_redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))
    for event_id in (first, second):
        failed = client.get(f"/api/events/{event_id}", headers=AUTH).json()
        assert failed["status"] == "failed", failed
        assert failed["error"].endswith("injected store failure #3")


def test_readyz_with_real_parts(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    response = api_client(settings, real_redis, migrated).get("/readyz")
    assert response.status_code == 200 and response.json() == {
        "status": "ready",
        "redis": "ok",
        "store": "ok",
    }


def test_a_retried_job_does_not_duplicate_rows(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    for i in range(5):
        client.post(TRACK, json=basic_event(event_id=f"retry-{i}"))
    # Each insert succeeds but the worker fails before acknowledging: RQ retries the job,
    # twice, and the third attempt is acknowledged. (The 5 queued jobs merge into one insert.)
    writer = FailingWriter(real_writer(migrated, settings), failures=2, after_insert=True)
    drain(real_redis, settings, writer)
    assert writer.calls == 3
    # Merges are off (conftest): a row per insert that landed, so this counts inserts, per id.
    assert inserted(migrated, settings.clickhouse_database) == once_each([f"retry-{i}" for i in range(5)])
    assert FailedJobRegistry(settings.queue_name, connection=real_redis).count == 0


def test_a_retry_that_builds_other_rows_is_still_stored_once(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    """Rows queued without session ids (as an API with SESSIONS on queues them), drained by a
    worker with SESSIONS off: each attempt draws new random session ids, so the retried insert's
    rows differ from the first's. No content hash can match them; only the token stops them."""
    random_sessions = settings.model_copy(update={"sessions": False})
    ids = [f"resession-{i}" for i in range(4)]
    rows = [{**queue_row(event_id), "session_id": ""} for event_id in ids]
    enqueue_rows(events_queue(real_redis, settings), rows, settings)
    sessions: list[list[str]] = []

    class RecordingWriter(FailingWriter):
        def write(self, columns: Sequence[str], data: Columns, *, token: str) -> int:
            sessions.append(list(data[list(columns).index("session_id")]))
            return super().write(columns, data, token=token)

    drain(real_redis, random_sessions, RecordingWriter(real_writer(migrated, settings), 1, after_insert=True))
    assert len(sessions) == 2 and not set(sessions[0]) & set(sessions[1])  # two attempts, other rows
    assert inserted(migrated, settings.clickhouse_database) == once_each(ids)
    stored = migrated.query(f"SELECT session_id FROM {settings.clickhouse_database}.events").result_rows
    assert sorted(row[0] for row in stored) == sorted(sessions[0])  # the first attempt's rows


def test_transient_store_failures_are_retried(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    client.post(TRACK, json=basic_event(event_id="transient"))
    writer = FailingWriter(real_writer(migrated, settings), failures=2)  # 2 retries allowed
    drain(real_redis, settings, writer)
    assert writer.calls == 3
    assert inserted(migrated, settings.clickhouse_database) == once_each(["transient"])
    assert FailedJobRegistry(settings.queue_name, connection=real_redis).count == 0


def test_a_job_whose_store_keeps_failing_lands_in_the_failed_registry(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    client = api_client(settings, real_redis, migrated)
    client.post(TRACK, json=basic_event(event_id="doomed"))
    drain(real_redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))
    queue = events_queue(real_redis, settings)
    registry = FailedJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job is not None and job.retries_left == 0
    assert job_rows(job)[0]["event_id"] == "doomed"  # the event waits there, ready to requeue
    assert "injected store failure #3" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
    assert count_rows(migrated, settings) == 0


def test_redis_down_at_the_api_gives_the_500_body(tmp_path: Path, settings: Settings) -> None:
    with RedisServer(Path(tmp_path) / "r") as server:
        client = api_client(settings, connect_redis(server.url))
        assert client.post(TRACK, json=basic_event()).status_code == 201
        server.stop()
        response = client.post(TRACK, json=basic_event())
    assert response.status_code == 500
    assert response.json()["error"] == "Failed to track event" and response.json()["details"]


def test_redis_down_at_batch_gives_the_500_body(tmp_path: Path, settings: Settings) -> None:
    with RedisServer(Path(tmp_path) / "r") as server:
        client = api_client(settings, connect_redis(server.url))
        assert client.post("/api/events/batch", json=[basic_event()]).status_code == 201
        server.stop()
        response = client.post("/api/events/batch", json=[basic_event(), basic_event()])
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Failed to track event" and body["details"] and "results" not in body


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_queued_events_survive_a_redis_restart(
    kill: bool, appendfsync: str, short_dir: Path, migrated: Client, settings: Settings
) -> None:
    server = RedisServer(short_dir, appendfsync=appendfsync)
    redis = connect_redis(server.start())
    assert redis.config_get("appendfsync") == {"appendfsync": appendfsync}
    client = api_client(settings, redis, migrated)
    ids = [client.post(TRACK, json=basic_event()).json()["event_id"] for _ in range(20)]
    assert (short_dir / "url").read_text() == server.url  # announced for `trackhouse status`
    server.stop(kill=kill)
    server.start()  # same directory: the AOF is replayed
    try:
        assert events_queue(redis, settings).count == 20
        drain(redis, settings, real_writer(migrated, settings))
    finally:
        server.stop()
    stored = migrated.query(f"SELECT event_id FROM {settings.clickhouse_database}.events").result_rows
    assert sorted(row[0] for row in stored) == sorted(ids)


def test_sql_metacharacters_are_data(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    # Inserts and reads are parameterised: what looks like SQL is stored and read back as text.
    nasty = "x'); DROP TABLE events; -- ' OR '1'='1 \\ {event_id:String}"
    stored = track_and_store(settings, real_redis, migrated, basic_event(event_id=nasty, link_title=nasty))
    assert stored["event_id"] == nasty and stored["link_title"] == nasty
    assert count_rows(migrated, settings) == 1
