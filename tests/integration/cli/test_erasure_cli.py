"""`trackhouse erase|erasures|suppressions` against a real Redis, with a worker's lifecycle
thread running erasures on a real chDB: `--wait` returns once the rows are gone; the log and
the suppressions read back; bad input is one line on stderr, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.settings import Settings
from tests.support.cli_runs import ok, ok_json, refused
from tests.support.stored import store_events
from worker.lifecycle import LifecycleThread

pytestmark = pytest.mark.integration


@pytest.fixture
def lifecycle(real_redis: Redis, migrated: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRACKHOUSE_CLICKHOUSE_DATABASE", settings.clickhouse_database)
    thread = LifecycleThread(real_redis, settings, open_store=lambda: migrated)
    thread.start()
    yield
    thread.stop()
    thread.join(10)


def test_erase_waits_until_done_and_the_log_reads_back(
    run_cli: Any, lifecycle: None, migrated: Client, settings: Settings
) -> None:
    store_events(migrated, settings.clickhouse_database, [
        {"event_id": f"{user}-{i}", "event_type": "click", "user_id": user} for user in ("u1", "u2") for i in range(2)
    ])  # fmt: skip
    erasure = ok_json(run_cli, "erase", "--user-id", "u1", "--wait", "--timeout", "60")
    assert (erasure["status"], erasure["rows_deleted"], erasure["subject_kind"]) == ("done", 2, "user_id")
    assert erasure["requested_by"].startswith("cli:") and "u1" not in json.dumps(erasure)
    left = migrated.query(f"SELECT user_id, count() FROM {settings.clickhouse_database}.events GROUP BY user_id")
    assert left.result_rows == [("u2", 2)]
    assert erasure["id"] in ok(run_cli, "erasures", "list")
    assert ok_json(run_cli, "erasures", "show", erasure["id"])["status"] == "done"


def test_suppressions_list_and_lift(run_cli: Any, real_redis: Redis) -> None:
    erasure = ok_json(run_cli, "erase", "--email", "a@example.com", "--suppress")
    assert erasure["status"] == "pending" and erasure["suppression_id"]
    listed = ok_json(run_cli, "suppressions", "list")["suppressions"]
    assert [s["id"] for s in listed] == [erasure["suppression_id"]]
    assert "lifted" in ok(run_cli, "suppressions", "lift", erasure["suppression_id"])
    assert "no suppressions" in ok(run_cli, "suppressions", "list")
    refused(run_cli, 1, "suppressions", "lift", erasure["suppression_id"])


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("erase",), "exactly one of"),
        (("erase", "--user-id", "a", "--email", "b"), "exactly one of"),
        (("erase", "--user-id", "a", "--project", "nope"), "not registered"),
        (("erase", "--user-id", ""), "at least 1"),
    ],
)
def test_bad_erasures_are_refused_in_one_line(run_cli: Any, real_redis: Redis, argv: tuple[str, ...], problem: str) -> None:
    assert problem in refused(run_cli, 2, *argv)
    assert not real_redis.exists("trackhouse:erasure:log")
