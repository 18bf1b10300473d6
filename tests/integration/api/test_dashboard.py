"""Dead letters are visible where ops look: rq-dashboard, over a real Redis.

Two ways it runs: standalone with `--json` (docker-compose), and mounted at /rq by
`trackhouse up --dashboard`, behind the admin token."""

from __future__ import annotations

import base64

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.serializers import JSONSerializer  # stdlib json: what `rq-dashboard --json` uses

from api.dashboard import mount_dashboard
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, drain, real_writer

pytestmark = pytest.mark.integration


def make_dead_letter(redis: Redis, migrated: Client, settings: Settings, event_id: str) -> None:
    api_client(settings, redis).post("/api/events/track", json=basic_event(event_id=event_id))
    drain(redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))


def test_standalone_dashboard_shows_a_failed_job_with_its_reason(
    real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings
) -> None:
    from rq_dashboard import web
    from rq_dashboard.cli import make_flask_app

    make_dead_letter(real_redis, migrated, settings, "dead-1")
    app = make_flask_app(None, None, None, "")
    app.config["RQ_DASHBOARD_REDIS_URL"] = (redis_server.url,)  # a list of instances, as its CLI sets
    web.config.serializer = JSONSerializer
    client = app.test_client()
    [job] = client.get(f"/0/data/jobs/{settings.queue_name}/failed/10/asc/1.json").get_json()["jobs"]
    detail = client.get(f"/0/data/job/{job['id']}.json").get_json()
    assert detail["status"] == "failed"
    assert "injected store failure" in detail["exc_info"]
    assert "dead-1" in detail["description"]  # the queued event is readable, not a pickle blob


def test_mounted_dashboard_needs_the_admin_token(
    real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings
) -> None:
    make_dead_letter(real_redis, migrated, settings, "dead-2")
    client = api_client(settings, real_redis, migrated)
    mount_dashboard(client.app, settings, redis_server.url)  # type: ignore[arg-type]
    listing = f"/rq/0/data/jobs/{settings.queue_name}/failed/10/asc/1.json"
    assert client.get(listing).status_code == 401
    wrong = base64.b64encode(b"admin:wrong").decode()
    assert client.get(listing, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"admin:test-admin-token").decode()
    response = client.get(listing, headers={"Authorization": f"Basic {right}"})
    assert response.status_code == 200
    [job] = response.json()["jobs"]
    detail = client.get(
        f"/rq/0/data/job/{job['id']}.json", headers={"Authorization": f"Basic {right}"}
    ).json()
    assert "dead-2" in detail["description"] and "injected store failure" in detail["exc_info"]


def test_no_dashboard_without_an_admin_token(real_redis: Redis, settings: Settings) -> None:
    client = api_client(settings.model_copy(update={"admin_token": None}), real_redis)
    with pytest.raises(SystemExit, match="ADMIN_TOKEN"):
        mount_dashboard(client.app, settings.model_copy(update={"admin_token": None}), "unix:///nowhere")  # type: ignore[arg-type]
