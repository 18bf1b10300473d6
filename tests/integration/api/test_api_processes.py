"""`trackhouse api --processes N`: one port served by N processes, as a real process tree."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest
from redis import Redis

from shared.queue.jobs import events_queue, job_rows
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from tests.support.builders import basic_event
from tests.support.processes import child_port, http, trackhouse, wait_for

pytestmark = pytest.mark.integration
TOKEN = "processes-admin-token"


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_two_processes_serve_one_port_and_stop_cleanly(
    short_dir: Path, real_redis: Redis, redis_server: RedisServer, settings: Settings
) -> None:
    port = child_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "TRACKHOUSE_REDIS_URL": redis_server.url,
        "TRACKHOUSE_CLICKHOUSE_URL": f"chdb://{short_dir / 'clickhouse'}",
        "TRACKHOUSE_PORT": str(port),
        "TRACKHOUSE_ADMIN_TOKEN": TOKEN,
    }
    api = trackhouse(["api", "--processes", "2"], env, short_dir / "api.log")
    try:
        wait_for(lambda: len(children(api.pid)) >= 2, timeout_seconds=60, what="two API processes")
        wait_for(lambda: http("GET", f"{base}/healthz")[0] == 200, timeout_seconds=60, what="the API")
        # A fresh connection per request: the kernel hands each to either process.
        ids = [f"proc-{i}" for i in range(40)]
        for event_id in ids:
            status, body = http("POST", f"{base}/api/events/track", basic_event(event_id=event_id))
            assert (status, body["event_id"]) == (201, event_id)
        status, text = http_text(f"{base}/metrics")
        assert status == 200
        # Any process's /metrics adds up both (one PROMETHEUS_MULTIPROC_DIR).
        assert metric(text, 'trackhouse_events_accepted_total{endpoint="track"}') == 40
    finally:
        api.send_signal(signal.SIGTERM)
        code = api.wait(timeout=60)
    assert code == 0, (short_dir / "api.log").read_text()
    queued = [
        row["event_id"] for job in events_queue(real_redis, settings).get_jobs() for row in job_rows(job)
    ]
    assert sorted(queued) == sorted(ids)


def http_text(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()
