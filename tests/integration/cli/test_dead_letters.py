"""`trackhouse failed list|show|requeue|purge`, on dead letters made for real: a real worker,
a store that keeps failing, over a real Redis and chDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq.job import Job
from rq.utils import utcformat

from cli import main as cli
from cli.failed import failed_registry, list_failed, purge_older_than, show_failed
from shared.event.parse import RequestContext, parse_event
from shared.queue.jobs import enqueue_rows, events_queue
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, count_rows, drain, real_writer
from worker.merge import CLAIM_PREFIX

pytestmark = pytest.mark.integration


def queue_job(redis: Redis, settings: Settings, event_ids: list[str]) -> Job:
    context = RequestContext(received_at=datetime.now(UTC))
    rows = [parse_event(basic_event(event_id=event_id), context) for event_id in event_ids]
    return enqueue_rows(events_queue(redis, settings), rows, settings)


def fail_everything(redis: Redis, settings: Settings, store: Client) -> None:
    """Drain with a store that never answers: every job ends in the FailedJobRegistry."""
    drain(redis, settings, FailingWriter(real_writer(store, settings), failures=100))


def failed_ids(redis: Redis, settings: Settings) -> list[str]:
    return failed_registry(redis, settings).get_job_ids()


@pytest.fixture
def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_server: RedisServer,
    settings: Settings,
) -> Any:
    """`trackhouse …` in this process, against the test's Redis and queue: (exit code, out, err)."""
    monkeypatch.setenv("TRACKHOUSE_REDIS_URL", redis_server.url)
    monkeypatch.setenv("TRACKHOUSE_QUEUE_NAME", settings.queue_name)
    # main() replaces the root logger's handlers, which would outlive this test's capture.
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_dead_letter_is_listed_and_shown(
    real_redis: Redis, migrated: Client, settings: Settings, run_cli: Any
) -> None:
    job = queue_job(real_redis, settings, ["dead-1", "dead-2", "dead-3", "dead-4"])
    fail_everything(real_redis, settings, migrated)

    [letter] = list_failed(real_redis, settings)
    assert (letter.id, letter.events, letter.merged_ids) == (job.id, 4, ())
    assert letter.first_event_ids == ("dead-1", "dead-2", "dead-3")
    assert letter.error == "tests.support.workers.StoreDown: injected store failure #3"  # the last attempt
    assert letter.failed_at is not None and datetime.now(UTC) - letter.failed_at < timedelta(minutes=1)

    code, out, _ = run_cli("failed", "list")
    assert code == 0
    assert job.id in out
    assert "dead-1, dead-2, dead-3, …" in out
    assert "StoreDown: injected store failure #3" in out

    code, out, _ = run_cli("failed", "show", job.id)
    assert code == 0
    assert "status       failed" in out
    for event_id in ("dead-1", "dead-2", "dead-3", "dead-4"):
        assert f'"event_id":"{event_id}"' in out
    assert '"link_slug":"promo-summer"' in out
    assert "Traceback (most recent call last)" in out
    assert "raise StoreDown" in out

    code, _, err = run_cli("failed", "show", "no-such-job-n1")
    assert code == 1
    assert "no job no-such-job-n1" in err


def test_merged_jobs_show_with_the_job_that_holds_them(
    real_redis: Redis, migrated: Client, settings: Settings, run_cli: Any
) -> None:
    head = queue_job(real_redis, settings, ["h-1"])
    behind = [queue_job(real_redis, settings, [f"b-{i}-0", f"b-{i}-1"]).id for i in range(2)]
    fail_everything(real_redis, settings, migrated)

    assert failed_ids(real_redis, settings) == [head.id]  # the others rode along in its insert
    detail = show_failed(real_redis, head.id)
    assert detail.letter.merged_ids == tuple(behind)
    assert detail.letter.merged_events == 4
    assert detail.meta["merged"] == behind
    assert {rows[0]["event_id"] for rows in detail.merged_rows.values() if rows} == {"b-0-0", "b-1-0"}

    code, out, _ = run_cli("failed", "list")
    assert "1 +4m" in out
    code, out, _ = run_cli("failed", "show", head.id)
    assert f"merged       {', '.join(behind)}" in out
    assert '"event_id":"b-1-1"' in out


def test_a_requeued_dead_letter_is_stored_with_the_jobs_it_merged(
    real_redis: Redis, migrated: Client, settings: Settings, run_cli: Any
) -> None:
    head = queue_job(real_redis, settings, ["r-1", "r-2"])
    for i in range(3):
        queue_job(real_redis, settings, [f"r-m{i}"])
    fail_everything(real_redis, settings, migrated)
    assert count_rows(migrated, settings) == 0

    code, out, _ = run_cli("failed", "requeue", head.id)
    assert code == 0
    assert f"requeued 1 job(s)\n  {head.id}" in out
    assert events_queue(real_redis, settings).get_job_ids() == [head.id]
    assert failed_ids(real_redis, settings) == []
    assert real_redis.ttl(head.key) == -1  # not the failure TTL: it must not expire while queued

    drain(real_redis, settings, real_writer(migrated, settings))
    assert count_rows(migrated, settings) == 5  # its own 2 and the 3 it merged
    assert failed_ids(real_redis, settings) == []
    assert real_redis.keys("rq:job:*") == [] and real_redis.keys(f"{CLAIM_PREFIX}*") == []


def test_requeue_all_and_unknown_ids(
    real_redis: Redis, migrated: Client, settings: Settings, run_cli: Any
) -> None:
    unmerged = settings.model_copy(update={"insert_max_rows": 1})  # one dead letter per job
    for i in range(3):
        queue_job(real_redis, unmerged, [f"a-{i}"])
    fail_everything(real_redis, unmerged, migrated)
    assert len(failed_ids(real_redis, settings)) == 3

    code, _, err = run_cli("failed", "requeue", "no-such-job-n1")
    assert code == 1
    assert "not in the failed registry: no-such-job-n1" in err
    code, _, err = run_cli("failed", "requeue")
    assert code == 2  # neither ids nor --all

    code, out, _ = run_cli("failed", "requeue", "--all")
    assert code == 0
    assert "requeued 3 job(s)" in out
    drain(real_redis, unmerged, real_writer(migrated, settings))
    assert count_rows(migrated, settings) == 3
    code, out, _ = run_cli("failed", "list")
    assert out.strip() == "no failed jobs"


def test_purge_removes_old_dead_letters_and_what_they_merged(
    real_redis: Redis, migrated: Client, settings: Settings, run_cli: Any
) -> None:
    old = queue_job(real_redis, settings, ["old-1"])
    old_merged = [queue_job(real_redis, settings, [f"old-m{i}"]).id for i in range(2)]
    fail_everything(real_redis, settings, migrated)
    young = queue_job(real_redis, settings, ["young-1"])
    young_merged = queue_job(real_redis, settings, ["young-m"]).id
    fail_everything(real_redis, settings, migrated)
    assert sorted(failed_ids(real_redis, settings)) == sorted([old.id, young.id])
    real_redis.hset(old.key, "ended_at", utcformat(datetime.now(UTC) - timedelta(days=10)))

    code, out, _ = run_cli("failed", "purge", "--older-than", "7d")
    assert code == 0
    assert f"purged 1 failed job(s)\n  {old.id}" in out

    assert failed_ids(real_redis, settings) == [young.id]
    gone = [old.id, *old_merged]
    assert not any(real_redis.exists(Job.redis_job_namespace_prefix + job_id) for job_id in gone)
    assert not real_redis.exists(CLAIM_PREFIX + old.id)
    assert not real_redis.exists(f"rq:results:{old.id}")
    kept = [young.id, young_merged]
    assert all(real_redis.exists(Job.redis_job_namespace_prefix + job_id) for job_id in kept)
    assert real_redis.exists(CLAIM_PREFIX + young.id)

    # The young one is still whole: requeued, it stores its merged job too.
    assert purge_older_than(real_redis, settings, timedelta(days=7)) == []
    run_cli("failed", "requeue", young.id)
    drain(real_redis, settings, real_writer(migrated, settings))
    assert count_rows(migrated, settings) == 2


def test_purge_of_an_entry_whose_hash_is_gone_still_frees_its_merged_jobs(
    real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    head = queue_job(real_redis, settings, ["x-1"])
    merged = queue_job(real_redis, settings, ["x-2"]).id
    fail_everything(real_redis, settings, migrated)
    real_redis.delete(head.key)  # e.g. deleted by hand; the claim record still names `merged`
    later = datetime.now(UTC) + timedelta(days=1)
    assert purge_older_than(real_redis, settings, timedelta(hours=12), now=later) == [head.id]
    assert failed_ids(real_redis, settings) == []
    assert not real_redis.exists(Job.redis_job_namespace_prefix + merged)
    assert not real_redis.exists(CLAIM_PREFIX + head.id)
