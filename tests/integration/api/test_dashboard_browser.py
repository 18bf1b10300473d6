"""The stored XSS replayed in a real browser: headless Chromium opens the embedded /rq.

A job whose description holds markup (one queued by an older release, or written straight
into Redis) is opened on the dashboard's job page, which renders descriptions unescaped. The
payload must not run (CSP, escaped data) and the page must still work under the CSP (it
shows the job). Needs Chromium (`apt-get install chromium`): skipped without it, failed under CI=true."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.job import Job

from api.rq_dashboard import mount_dashboard
from shared.queue.jobs import events_queue
from shared.queue.redis_server import RedisServer, free_port
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.markers import server_fixture
from tests.support.tools import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"


@pytest.fixture
def dashboard_url(
    real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings
) -> Iterator[str]:
    app = api_client(settings, real_redis, migrated).app
    mount_dashboard(app, settings, redis_server.url)  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # set by uvicorn once it listens
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        threading.Event().wait(0.02)
    yield f"http://admin:test-admin-token@127.0.0.1:{port}/rq"
    server.should_exit = True
    thread.join(timeout=10)


@server_fixture("browser")
def chromium() -> str:
    return shutil.which("chromium") or shutil.which("chromium-browser") or require_tool("chromium", "apt-get install chromium")


def dump_dom(chromium: str, url: str, profile: Path) -> str:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
    ]
    done = subprocess.run([chromium, *flags, url], capture_output=True, text=True, timeout=60)
    return done.stdout


def test_markup_in_a_job_does_not_run_in_the_dashboard(
    chromium: str, dashboard_url: str, real_redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    job = Job.create(
        "worker.jobs.insert_events",
        args=[["event_id"], [[PAYLOAD]]],
        connection=real_redis,
        serializer=OrjsonSerializer,
        description=PAYLOAD,
        id="legacy-n1",
    )
    events_queue(real_redis, settings).enqueue_job(job)
    dom = dump_dom(chromium, f"{dashboard_url}/0/view/job/{job.id}", tmp_path / "profile")
    assert "<title>RQ dashboard</title>" in dom  # the page loaded, and no script renamed it
    assert "PWNED" not in dom.split("</title>")[0]
    # The page's own script ran under the CSP: it fetched the job and shows its description, as text.
    assert "&lt;img src=x onerror=" in dom
