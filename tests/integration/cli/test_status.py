"""`trackhouse status` against a real Redis: the figures, the store check, the command itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.utils import utcformat

from cli.status import Snapshot, check_store, gather
from shared import stats
from shared.event.parse import RequestContext, parse_event
from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.redis_server import RedisServer, _version_of, free_port
from shared.settings import Settings
from tests.support.builders import basic_event
from tests.support.processes import ROOT, wait_for
from tests.support.workers import FailingWriter, drain, real_writer
from worker.runner import make_worker

pytestmark = pytest.mark.integration


def queue_job(redis: Redis, settings: Settings, events: int, prefix: str) -> str:
    context = RequestContext(received_at=datetime.now(UTC))
    rows = [parse_event(basic_event(event_id=f"{prefix}-{i}"), context) for i in range(events)]
    return enqueue_rows(events_queue(redis, settings), rows, settings).id


@pytest.fixture
def no_api(settings: Settings) -> Settings:
    """Settings whose API port has nothing listening (8000 may be someone's running server)."""
    return settings.model_copy(update={"port": free_port()})


def test_the_snapshot_counts_queue_retries_failures_and_drain_rate(
    real_redis: Redis, migrated: Client, no_api: Settings, redis_server: RedisServer
) -> None:
    settings = no_api
    failing = FailingWriter(real_writer(migrated, settings), failures=100)
    queue_job(real_redis, settings, 2, "dead")
    drain(real_redis, settings, failing)  # retries at 0 s: a dead letter at once
    patient = settings.model_copy(update={"retry_intervals_seconds": [300]})
    queue_job(real_redis, patient, 3, "retry")
    drain(real_redis, patient, failing)  # parked in the scheduled registry for 5 minutes
    head = queue_job(real_redis, settings, 1, "q0")
    queue_job(real_redis, settings, 2, "q1")
    queue_job(real_redis, settings, 5, "q2")
    real_redis.hset(f"rq:job:{head}", "enqueued_at", utcformat(datetime.now(UTC) - timedelta(seconds=90)))
    with real_redis.pipeline() as pipe:
        stats.record_stored(pipe, 600)
        pipe.execute()

    snapshot = gather(real_redis, settings, redis_server.url)
    assert snapshot.queue == settings.queue_name
    assert snapshot.redis_version == ".".join(map(str, _version_of(redis_server.binary)))  # the one running
    assert (snapshot.queued_jobs, snapshot.queued_events) == (3, 8)
    assert snapshot.oldest_queued_age_seconds is not None
    assert 89 <= snapshot.oldest_queued_age_seconds < 100
    assert snapshot.scheduled_retries == 1
    assert snapshot.started_jobs == 0
    assert snapshot.failed_jobs == 1
    assert snapshot.workers == ()  # the burst worker has gone
    assert 9.5 <= snapshot.stored_per_second <= 10.0  # 600 in this minute's bucket
    # chDB belongs to the running process, and no API answers here.
    assert snapshot.store.state.startswith("unknown (chDB is owned by the running process")


def test_an_empty_queue_has_no_oldest_job(
    real_redis: Redis, no_api: Settings, redis_server: RedisServer
) -> None:
    snapshot = gather(real_redis, no_api, redis_server.url)
    assert (snapshot.queued_jobs, snapshot.queued_events, snapshot.failed_jobs) == (0, 0, 0)
    assert snapshot.oldest_queued_age_seconds is None


def test_a_live_worker_is_listed(real_redis: Redis, no_api: Settings, redis_server: RedisServer) -> None:
    worker = make_worker(real_redis, no_api, in_thread=True)
    thread = threading.Thread(target=worker.work, daemon=True)
    thread.start()

    def registered() -> Snapshot | None:
        snapshot = gather(real_redis, no_api, redis_server.url)
        # RQ registers a worker a moment before it records its first state.
        return snapshot if snapshot.workers and snapshot.workers[0].state != "?" else None

    try:
        snapshot = wait_for(registered, timeout_seconds=10, what="the worker to register")
    finally:
        worker.stop()
        thread.join(timeout=10)
    [info] = snapshot.workers
    assert info.name == worker.name
    assert info.pid == os.getpid()
    assert info.hostname
    assert info.state in ("idle", "started")
    assert info.current_job_id is None


class _Readyz(BaseHTTPRequestHandler):
    status = 200
    body = b'{"status": "ready", "redis": "ok", "store": "ok"}'

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api(settings: Settings) -> Iterator[tuple[Settings, type[_Readyz]]]:
    """A stand-in for the running `trackhouse up`'s /readyz."""
    handler = type("Handler", (_Readyz,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings.model_copy(update={"host": "127.0.0.1", "port": server.server_address[1]}), handler
    server.shutdown()
    server.server_close()


def test_with_chdb_the_store_is_checked_through_the_api(fake_api: tuple[Settings, type[_Readyz]]) -> None:
    settings, handler = fake_api
    assert settings.uses_chdb
    check = check_store(settings)
    assert check.state == f"ok (via http://127.0.0.1:{settings.port}/readyz)"
    handler.status = 503
    handler.body = b'{"status": "not ready", "redis": "ok", "store": "down (OperationalError)"}'
    assert check_store(settings).state.startswith("down (OperationalError) (via ")


def test_a_clickhouse_server_that_does_not_answer_is_down(settings: Settings) -> None:
    url = f"http://default:s3cret@127.0.0.1:{free_port()}"  # nothing listens there
    check = check_store(settings.model_copy(update={"clickhouse_url": url}))
    assert check.state.startswith("down (")
    assert check.target == f"http://default:***@127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert "s3cret" not in check.state  # (a hang would be stopped by the per-test timeout)


def status_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHOUSE_")}
    return subprocess.run(
        [sys.executable, "-m", "cli", "status", "--json"],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_status_command_prints_json(
    real_redis: Redis, settings: Settings, redis_server: RedisServer, short_dir: Path
) -> None:
    queue_job(real_redis, settings, 4, "cli")
    done = status_command(
        {
            "TRACKHOUSE_REDIS_URL": redis_server.url,
            "TRACKHOUSE_QUEUE_NAME": settings.queue_name,
            "TRACKHOUSE_DATA_DIR": str(short_dir),
            "TRACKHOUSE_PORT": str(free_port()),
        }
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["redis_url"] == redis_server.url
    assert data["queue"] == settings.queue_name
    assert (data["queued_jobs"], data["queued_events"], data["failed_jobs"]) == (1, 4, 0)
    assert 0 <= data["oldest_queued_age_seconds"] < 60
    assert data["workers"] == []
    assert data["store"]["state"].startswith("unknown")


def test_the_embedded_redis_is_found_from_the_data_dir(
    real_redis: Redis, settings: Settings, redis_server: RedisServer
) -> None:
    if not redis_server.url.startswith("unix://"):
        pytest.skip("the session's Redis listens on TCP (its socket path would be too long)")
    queue_job(real_redis, settings, 1, "embedded")
    # The session's Redis lives where `trackhouse up` would put it: <data_dir>/redis/redis.sock.
    done = status_command(
        {"TRACKHOUSE_DATA_DIR": str(settings.data_dir), "TRACKHOUSE_PORT": str(free_port())}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["queued_jobs"] == 1


def test_no_redis_is_exit_code_1_with_a_reason(short_dir: Path) -> None:
    done = status_command({"TRACKHOUSE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert done.returncode == 1
    assert "Redis not reachable at redis://127.0.0.1:" in done.stderr
    assert done.stdout == ""

    done = status_command({"TRACKHOUSE_DATA_DIR": str(short_dir)})
    assert done.returncode == 1
    assert "no embedded Redis socket at" in done.stderr
