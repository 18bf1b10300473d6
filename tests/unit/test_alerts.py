"""The alert rules (deploy/prometheus/alerts.yml): their promtool unit tests pass, and every
series they and their tests name is one the service really exports, so renaming a metric in
shared/metrics.py breaks this test instead of silencing an alert."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.tools import require_tool

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def exported_series(fake_redis: Redis, settings: Settings) -> set[str]:
    response = api_client(settings, fake_redis).get(
        "/metrics", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert response.status_code == 200
    return {
        sample.name for family in text_string_to_metric_families(response.text) for sample in family.samples
    }


def worker_series() -> set[str]:
    """What a worker's own metrics server (shared.metrics.start_worker_server: the process's
    default registry) exposes once its job code is loaded: the worker-side metrics."""
    import worker.jobs  # noqa: F401  (registers the worker's metrics, as `trackhouse worker` does)

    exposition = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    return {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}


def test_rules_name_only_exported_series(fake_redis: Redis, settings: Settings) -> None:
    named = {
        name
        for path in (RULES / "alerts.yml", RULES / "alerts.test.yml")
        for name in re.findall(r"\btrackhouse_[a-z_]+\b", path.read_text())
    }
    assert len(named) >= 7  # the rules do use the service's metrics
    assert sorted(named - exported_series(fake_redis, settings) - worker_series()) == []


def test_the_replica_alerts_read_the_workers_refusals() -> None:
    exported = worker_series()
    assert "trackhouse_replica_refusals_total" in exported
    rules = (RULES / "alerts.yml").read_text()
    for alert in ("TrackhouseWorkerReplicasBehind", "TrackhouseReplicaWaitExhausted"):
        assert f"alert: {alert}" in rules
    samples = {
        sample.labels["attempt"]
        for family in text_string_to_metric_families(
            prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
        )
        for sample in family.samples
        if sample.name == "trackhouse_replica_refusals_total"
    }
    assert samples == {"given_back", "spent"}  # both series exist before the first refusal


def test_promtool_unit_tests_pass() -> None:
    promtool = require_tool("promtool", "apt-get install prometheus")
    checked = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
