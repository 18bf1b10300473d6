"""Worker metrics through a real drain (real Redis, chDB), /metrics over a real Redis, and the
multi-process exposition across real processes. Metrics are process-global: assert on deltas."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client import REGISTRY
from redis import Redis
from rq.registry import FailedJobRegistry

from shared.queue.jobs import events_queue
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.processes import ROOT, child_port, trackhouse, wait_for
from tests.support.workers import FailingWriter, count_rows, drain, real_writer

pytestmark = pytest.mark.integration
BATCH = "/api/events/batch"


def delta(name: str) -> Callable[[], float]:
    before = REGISTRY.get_sample_value(name) or 0.0
    return lambda: (REGISTRY.get_sample_value(name) or 0.0) - before


def queue_events(settings: Settings, redis: Redis, count: int) -> None:
    response = api_client(settings, redis).post(BATCH, json=[basic_event() for _ in range(count)])
    assert response.status_code == 201, response.text


def test_drain_counts_rows_and_inserts(real_redis: Redis, migrated: Client, settings: Settings) -> None:
    rows, inserts = delta("trackhouse_rows_inserted_total"), delta("trackhouse_inserts_total")
    seconds = delta("trackhouse_insert_duration_seconds_count")
    merged = delta("trackhouse_insert_merged_jobs_count")
    failed, retries = delta("trackhouse_job_attempts_failed_total"), delta("trackhouse_job_retries_total")
    queue_events(settings, real_redis, 3)
    queue_events(settings, real_redis, 2)
    drain(real_redis, settings, real_writer(migrated, settings))
    assert count_rows(migrated, settings) == 5
    assert rows() == 5
    assert inserts() == seconds() == merged() == 1  # the second job rode in the first one's insert
    assert (failed(), retries()) == (0, 0)


def test_failed_attempt_and_its_retry_are_counted(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    failed, retries = delta("trackhouse_job_attempts_failed_total"), delta("trackhouse_job_retries_total")
    rows = delta("trackhouse_rows_inserted_total")
    queue_events(settings, real_redis, 2)
    drain(real_redis, settings, FailingWriter(real_writer(migrated, settings), failures=1))
    assert count_rows(migrated, settings) == 2
    assert (failed(), retries(), rows()) == (1, 1, 2)


def test_metrics_endpoint_reads_the_real_queue(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    exhausted = settings.model_copy(update={"retry_intervals_seconds": []})  # fail once: a dead letter
    queue_events(exhausted, real_redis, 4)
    drain(real_redis, exhausted, FailingWriter(real_writer(migrated, settings), failures=1))
    assert FailedJobRegistry(queue=events_queue(real_redis, settings)).count == 1
    queue_events(settings, real_redis, 3)
    response = api_client(settings, real_redis).get(
        "/metrics", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert response.status_code == 200
    text = response.text
    for line in (
        "trackhouse_redis_up 1.0",
        "trackhouse_queue_jobs 1.0",
        "trackhouse_queue_events 3.0",
        "trackhouse_dead_letter_jobs 1.0",
        "trackhouse_retry_scheduled_jobs 0.0",
        "trackhouse_rows_inserted_total",
        "trackhouse_job_attempts_failed_total",
        "trackhouse_insert_duration_seconds_bucket",
    ):
        assert line in text, line


_CHILD = """
from shared import metrics
metrics.TRACK_ACCEPTED.inc(3)
metrics.observe_insert(10, 0.01)
"""
_SCRAPE = """
from shared import metrics
print(metrics.exposition().decode())
"""


def test_multiprocess_exposition_sums_the_processes(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def python(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True, timeout=60
        )
        return done.stdout.decode()

    python(_CHILD)
    python(_CHILD)
    text = python(_SCRAPE)
    assert 'trackhouse_events_accepted_total{endpoint="track"} 6.0' in text
    assert "trackhouse_rows_inserted_total 20.0" in text
    assert "trackhouse_inserts_total 2.0" in text
    assert "process_cpu_seconds_total" not in text  # the scraping process alone: left out


def test_worker_process_serves_its_metrics_on_loopback(
    short_dir: Path, real_redis: Redis, redis_server: RedisServer, settings: Settings
) -> None:
    port = child_port()
    env = {
        "TRACKHOUSE_REDIS_URL": redis_server.url,
        "TRACKHOUSE_CLICKHOUSE_URL": f"chdb://{short_dir / 'clickhouse'}",
        "TRACKHOUSE_WORKER_METRICS_PORT": str(port),
    }
    log = short_dir / "worker.log"
    worker = trackhouse(["worker"], env, log)
    try:
        queue_events(settings, real_redis, 7)

        def scraped() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text: str = response.read().decode()
            return text if "trackhouse_rows_inserted_total 7.0" in text else None

        text = wait_for(scraped, timeout_seconds=60, what="the worker's metrics to count 7 rows")
        assert "trackhouse_inserts_total 1.0" in text and "process_cpu_seconds_total" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()
