"""Both topologies as real processes: `trackhouse up` (one process owns chDB, Redis child,
worker threads) and `trackhouse api` + `trackhouse worker` scaled apart."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from redis import Redis
from rq.registry import StartedJobRegistry

from shared.queue.connect import connect_redis
from shared.queue.jobs import events_queue
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event, detailed_event
from tests.support.processes import child_port, dump_event_ids, http, trackhouse, wait_for
from tests.support.up import running_up

pytestmark = pytest.mark.integration
TOKEN = "embedded-admin-token"
UP_ENV = {"TRACKHOUSE_ADMIN_TOKEN": TOKEN}


@pytest.fixture
def data_dir(short_dir: Path) -> Path:
    return short_dir


def read_back(base: str, event_id: str) -> dict[str, object]:
    def stored() -> dict[str, object] | None:
        status, body = http(
            "GET", f"{base}/api/events/{event_id}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        return body if status == 200 and body["status"] == "stored" else None

    return wait_for(stored, timeout_seconds=20, what=f"event {event_id} to be stored")


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()


def test_up_tracks_reads_back_and_stops_cleanly(data_dir: Path) -> None:
    with running_up(data_dir, UP_ENV) as up:
        status, body = http("POST", f"{up.base}/api/events/track", detailed_event())
        assert status == 201 and body["message"] == "Event tracked successfully"
        stored = read_back(up.base, body["event_id"])
        assert stored["conversion_value"] == 99.99 and stored["event_attributes"] == {
            "page": "/checkout",
            "product_id": "xyz789",
        }
        assert stored["ip_address"] == "127.0.0.1"
        redis_pid = int((data_dir / "redis" / "redis.pid").read_text())
        stop(up.process, up.log)
    assert not Path(f"/proc/{redis_pid}").exists()  # Redis was shut down with us
    assert list(
        (data_dir / "redis").glob("appendonly*")
    )  # ...leaving its AOF on disk (file or dir by version)


def test_up_picks_up_what_was_still_queued(data_dir: Path) -> None:
    # Events queued while no worker runs (as after a stop with a backlog)...
    with RedisServer(data_dir / "redis") as server:
        client = api_client(Settings(data_dir=data_dir), connect_redis(server.url))
        ids = [client.post("/api/events/track", json=basic_event()).json()["event_id"] for _ in range(10)]
    # ...are stored by the next `trackhouse up` on the same data directory.
    with running_up(data_dir, UP_ENV) as up:
        for event_id in ids:
            assert read_back(up.base, event_id)["event_id"] == event_id
        stop(up.process, up.log)


def test_api_and_worker_as_separate_processes(
    data_dir: Path, real_redis: Redis, redis_server: RedisServer, settings: Settings
) -> None:
    chdb_url = f"chdb://{data_dir / 'clickhouse'}"
    api_port = child_port()
    common = {"TRACKHOUSE_REDIS_URL": redis_server.url, "TRACKHOUSE_CLICKHOUSE_URL": chdb_url}
    api = trackhouse(["api"], {**common, "TRACKHOUSE_PORT": str(api_port)}, data_dir / "api.log")
    worker = trackhouse(["worker"], common, data_dir / "worker.log")
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_for(lambda: http("GET", f"{base}/healthz")[0] == 200, timeout_seconds=30, what="the API")
        ids = []
        for i in range(30):
            status, body = http("POST", f"{base}/api/events/track", basic_event(link_id=f"l{i % 3}"))
            assert status == 201
            ids.append(body["event_id"])
        queue = events_queue(real_redis, settings)
        wait_for(
            lambda: queue.count == 0 and StartedJobRegistry(queue=queue).count == 0,
            timeout_seconds=60,
            what="the worker to drain the queue",
        )
    finally:
        stop(api, data_dir / "api.log")
        stop(worker, data_dir / "worker.log")
    assert sorted(dump_event_ids(chdb_url, "trackhouse")) == sorted(ids)
    assert os.path.exists(data_dir / "clickhouse")
