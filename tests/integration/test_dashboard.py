"""Dead letters are visible where ops look: rq-dashboard (with --json), over a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from rq.serializers import JSONSerializer  # stdlib json: what rq-dashboard --json uses

from shared.queue import connect_redis
from shared.redis_server import RedisServer, free_port
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, drain, real_writer

pytestmark = pytest.mark.integration


def test_a_failed_job_shows_in_rq_dashboard_with_its_reason(
    short_dir: Path, migrated: Client, settings: Settings
) -> None:
    rq_dashboard_cli = pytest.importorskip("rq_dashboard.cli")
    from rq_dashboard import web

    # TCP: rq-dashboard's URL parser does not take unix:// URLs.
    with RedisServer(short_dir, port=free_port()) as server:
        redis = connect_redis(server.url)
        api_client(settings, redis).post("/api/events/track", json=basic_event(event_id="dead-1"))
        drain(redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))

        app = rq_dashboard_cli.make_flask_app(None, None, None, "")
        app.config["RQ_DASHBOARD_REDIS_URL"] = (server.url,)  # a list of instances, as the CLI sets
        web.config.serializer = JSONSerializer  # what `rq-dashboard --json` sets
        client = app.test_client()
        queue = settings.queue_name
        listing = client.get(f"/0/data/jobs/{queue}/failed/10/asc/1.json").get_json()
        [job] = listing["jobs"]
        detail = client.get(f"/0/data/job/{job['id']}.json").get_json()
    assert detail["status"] == "failed"
    assert "injected store failure" in detail["exc_info"]
    assert "dead-1" in detail["description"]  # the queued event is readable, not a pickle blob
