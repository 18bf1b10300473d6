"""The alert rules (deploy/prometheus/alerts.yml): their promtool unit tests pass, and every
series they and their tests name is one the service really exports, so renaming a metric in
shared/metrics.py breaks this test instead of silencing an alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def exported_series(fake_redis: Redis, settings: Settings) -> set[str]:
    response = api_client(settings, fake_redis).get(
        "/metrics", headers={"Authorization": "Bearer test-admin-token"}
    )
    assert response.status_code == 200
    return {
        sample.name for family in text_string_to_metric_families(response.text) for sample in family.samples
    }


def test_rules_name_only_exported_series(fake_redis: Redis, settings: Settings) -> None:
    named = {
        name
        for path in (RULES / "alerts.yml", RULES / "alerts.test.yml")
        for name in re.findall(r"\btrackhouse_[a-z_]+\b", path.read_text())
    }
    assert len(named) >= 7  # the rules do use the service's metrics
    assert sorted(named - exported_series(fake_redis, settings)) == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (apt-get install prometheus)")
def test_promtool_unit_tests_pass() -> None:
    checked = subprocess.run(
        ["promtool", "test", "rules", "alerts.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
