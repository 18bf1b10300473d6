"""`make mutate`: break each delivery guarantee on purpose and check that a test notices.

    python -m tests.mutations.run [--only NAME ...] [--list]

Each mutation below is one textual edit of the production code, the kind of slip that loses
or duplicates events without any error. For each, the repository's files are copied into a
temporary directory, the edit applied there (the working tree is never touched), and the tests
that should catch it run against the copy with the real redis-server and chDB. A mutation is
*killed* when those tests fail; a surviving one means a guarantee that no test guards. Exit 1
when any mutation survives or cannot be applied (the code it edits changed: update it here).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    guarantee: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "random-insert-token",
        "a retried insert is dropped by its deduplication token",
        "worker/writer.py",
        'settings={"insert_deduplication_token": token, "max_partitions_per_insert_block": 0},',
        'settings={"insert_deduplication_token": __import__("uuid").uuid4().hex, "max_partitions_per_insert_block": 0},',
        (
            "tests/integration/test_pipeline.py::test_a_retried_job_does_not_duplicate_rows",
            "tests/integration/worker/test_merge.py::test_merged_jobs_retried_after_a_lost_ack_are_stored_once",
        ),
    ),
    Mutation(
        "no-insert-token",
        "a retry whose rows differ (sessions drawn again) is still dropped",
        "worker/writer.py",
        'settings={"insert_deduplication_token": token, "max_partitions_per_insert_block": 0},',
        'settings={"max_partitions_per_insert_block": 0},',
        ("tests/integration/test_pipeline.py::test_a_retry_that_builds_other_rows_is_still_stored_once",),
    ),
    Mutation(
        "random-split-tokens",
        "a crash while splitting out a poison event stores no half twice",
        "worker/poison.py",
        'f"{token}/0", rejected',
        "f\"{token}/0/{__import__('uuid').uuid4().hex}\", rejected",
        ("tests/integration/worker/test_poison.py::test_a_crash_while_splitting_stores_nothing_twice",),
    ),
    Mutation(
        "halves-reuse-the-token",
        "the halves of a split batch are all stored (a reused token drops rows silently)",
        "worker/poison.py",
        'f"{token}/1", rejected',
        "token, rejected",
        (
            "tests/integration/worker/test_poison.py::test_a_poison_event_is_dead_lettered_and_its_batch_stored",
        ),
    ),
    Mutation(
        "reclaim-on-retry",
        "a retried job rebuilds the same merged set (claimed once)",
        "worker/merge.py",
        "if existing then return existing end",
        "",
        ("tests/integration/worker/test_merge.py",),
    ),
    Mutation(
        "second-entry-merged",
        "a job queued twice (a retried enqueue) is stored once",
        "worker/merge.py",
        "if id == ARGV[5] or redis.call('EXISTS', ARGV[6] .. id) == 1 or redis.call('EXISTS', ARGV[7] .. id) == 1 then",
        "if false then",
        ("tests/integration/worker/test_merge.py::test_a_job_queued_twice_is_stored_once",),
    ),
    Mutation(
        "claimed-job-runs-alone",
        "a second entry of a claimed job leaves its rows to the claimer",
        "worker/merge.py",
        "if owner and owner ~= ARGV[5] then return '@' .. owner end",
        "",
        (
            "tests/integration/worker/test_merge.py::test_a_second_entry_of_a_claimed_job_waits_for_its_claimer",
        ),
    ),
    Mutation(
        "batch-201-when-enqueue-fails",
        "no 201 without a Redis acknowledgement (/batch)",
        "api/routes/batch.py",
        "        return queue_failure(exc)\n    metrics.BATCH_ACCEPTED",
        "        pass\n    metrics.BATCH_ACCEPTED",
        (
            "tests/unit/api/test_track_api.py::test_a_failed_enqueue_gives_the_500_body_and_queues_nothing",
            "tests/integration/test_pipeline.py::test_redis_down_at_batch_gives_the_500_body",
        ),
    ),
    Mutation(
        "track-201-when-enqueue-fails",
        "no 201 without a Redis acknowledgement (/track)",
        "api/routes/track.py",
        "        return queue_failure(exc)\n    metrics.TRACK_ACCEPTED",
        "        pass\n    metrics.TRACK_ACCEPTED",
        ("tests/unit/api/test_track_api.py::test_a_failed_enqueue_gives_the_500_body_and_queues_nothing",),
    ),
    Mutation(
        "scheduler-skips-stranded",
        "a job a dead worker took off the queue is put back within seconds",
        "worker/runner.py",
        "                recover_stranded(self._redis, self._settings)\n",
        "",
        ("tests/integration/worker/test_worker_crash.py::test_the_scheduler_thread_requeues_a_stranded_job",),
    ),
    Mutation(
        "backpressure-counts-jobs",
        "backpressure counts queued events, not jobs",
        "shared/queue/depth.py",
        "    events = sum(events_in(job_id) for job_id in ids)\n",
        "    events = len(ids)\n",
        ("tests/integration/api/test_backpressure.py::test_the_queue_is_measured_in_events_not_jobs",),
    ),
    Mutation(
        "last-copy-wins",
        "a later copy of an event does not overwrite the first",
        "shared/store/migrations/0004_keep_first_received.sql",
        "MATERIALIZED bitNot(toUInt64(toUnixTimestamp64Milli(received_at)))",
        "MATERIALIZED toUInt64(toUnixTimestamp64Milli(received_at))",
        (
            "tests/integration/api/test_read_event.py::test_a_later_copy_of_an_event_does_not_overwrite_the_first",
        ),
    ),
    Mutation(
        "read-any-team",
        "an id two teams chose is answered with neither event",
        "api/event_reader.py",
        "if len(rows) > 1:",
        "if len(rows) > 99:",
        (
            "tests/integration/api/test_read_event.py::test_an_id_two_teams_chose_is_not_answered_with_either_event",
        ),
    ),
    Mutation(
        "visitors-approximate",
        "visitors is an exact distinct count (uniq's sampling is opt-in: approximate)",
        "shared/query/metrics.py",
        'f"uniqExactIf(visitor_id, {_COUNTED})",',
        'f"uniqIf(visitor_id, {_COUNTED})",',
        (
            "tests/unit/shared/query/test_metric_definitions.py",
            "tests/integration/shared/query/test_exact_metrics.py::test_visitors_is_exact_over_200000_distinct_visitors",
        ),
    ),
    Mutation(
        "conversions-count-engagement",
        "an engagement event carrying a conversion_type is no conversion",
        "shared/query/metrics.py",
        'f"countIf({_CONVERSION})",',
        "\"countIf(event_type = 'conversion' OR conversion_type != '')\",",
        (
            "tests/integration/shared/query/test_exact_metrics.py::test_conversions_leave_out_engagement_events_with_a_conversion_type",
        ),
    ),
    Mutation(
        "conversion-rate-engagement-visitors",
        "conversion_rate divides by the visitors of counted events (not those seen only in engagement)",
        "shared/query/metrics.py",
        'f"uniqExactIf(visitor_id, {_COUNTED})")',
        '"uniqExact(visitor_id)")',
        (
            "tests/integration/shared/query/test_exact_metrics.py::test_conversion_rate_divides_by_visitors_of_counted_events_only",
        ),
    ),
    Mutation(
        "zero-fill-paged-first",
        "a page of a zero-filled time series is those buckets (filled, then paged)",
        "shared/query/run.py",
        "paginate=not fill",
        "paginate=True",
        ("tests/integration/api/test_query_pages.py::test_a_page_of_a_zero_filled_series_is_those_days",),
    ),
    Mutation(
        "all-range-any-project",
        "a read key's date_range \"all\" starts at its own project's first event",
        "shared/query/run.py",
        "tz, (), bots, project)",
        "tz, (), bots, None)",
        ("tests/integration/api/test_query_all_range.py",),
    ),
    Mutation(
        "totals-from-the-page",
        "totals cover the whole selection, not the returned rows",
        "shared/query/run.py",
        "(row,) = engine.rows(sql.aggregate(query, database, limits, dimensions=False))\n"
        "            values = _metrics(query.metrics, row[: len(query.metrics)])",
        'values = [sum(r["metrics"][i] or 0 for r in results) for i in range(len(query.metrics))]',
        ("tests/integration/api/test_query_pages.py::test_totals_cover_the_whole_selection_not_the_page",),
    ),
    Mutation(
        "midnight-without-utc",
        "a local day starts at its first instant where clocks jump at midnight (01:00, not a 00:00 that never was)",
        "shared/query/ranges.py",
        "return local.astimezone(UTC).astimezone(tz)",
        "return local",
        ("tests/unit/shared/query/test_local_midnight.py",),
    ),
    Mutation(
        "admin-token-prefix",
        "only the whole admin token reads every project (a prefix of it is a 401)",
        "api/read_keys.py",
        "hmac.compare_digest(presented, self._admin)",
        "self._admin.startswith(presented)",
        ("tests/unit/api/test_read_keys.py",),
    ),
    Mutation(
        "export-first-block-only",
        "an export streams every selected event, past the engine's first 64 KiB block",
        "shared/query/engine.py",
        "while chunk := source.read(1 << 16):",
        "if chunk := source.read(1 << 16):",
        ("tests/integration/api/test_export_complete.py",),
    ),
    Mutation(
        "read-last-received-copy",
        "GET /api/events/{id} answers with the first-received copy when copies did not collapse",
        "shared/query/sql.py",
        '"ORDER BY team_id, project_id, received_at, inserted_at "',
        '"ORDER BY team_id, project_id, received_at DESC, inserted_at DESC "',
        ("tests/integration/api/test_read_event_first_copy.py",),
    ),
    Mutation(
        "stranded-requeued-at-tail",
        "a job a dead worker took off the queue goes back to its head, not behind the backlog",
        "worker/recovery.py",
        "redis.call('LPUSH', KEYS[2], ARGV[1])",
        "redis.call('RPUSH', KEYS[2], ARGV[1])",
        ("tests/integration/worker/test_recovery_order.py",),
    ),
    Mutation(
        "live-card-sessions",
        "the dashboard's live card counts visitors in the last 5 minutes, not sessions",
        "api/static/dashboard.js",
        'metrics: ["visitors"], date_range: "5m"',
        'metrics: ["sessions"], date_range: "5m"',
        ("tests/browser/test_dashboard_live.py",),
    ),
    Mutation(
        "merge-claim-without-replica-ack",
        "with REDIS_MIN_REPLICAS_ACK, nothing is inserted before a replica holds the job's merge claim",
        "worker/jobs.py",
        "    if context.min_replicas_ack:  # a claim lost in a failover would change the token: duplicates\n",
        "    if False:\n",
        (
            "tests/integration/worker/test_replica_wait.py::test_no_replica_holds_the_job_back_then_dead_letters_it",
        ),
    ),
    Mutation(
        "replica-wait-forever",
        "a job refused for want of replicas spends attempts past REDIS_REPLICA_WAIT_SECONDS (a dead letter, not forever)",
        "worker/replicas.py",
        "        if waited < wait_seconds:\n",
        "        if True:\n",
        (
            "tests/integration/worker/test_replica_wait.py::test_no_replica_holds_the_job_back_then_dead_letters_it",
        ),
    ),
    Mutation(
        "chaos-random-insert-token",
        "every acknowledged event stored once under faults (the short chaos run)",
        "worker/writer.py",
        'settings={"insert_deduplication_token": token, "max_partitions_per_insert_block": 0},',
        'settings={"insert_deduplication_token": __import__("uuid").uuid4().hex, "max_partitions_per_insert_block": 0},',
        ("tests/integration/test_chaos.py",),
    ),
    Mutation(
        "untrusted-server-copy",
        "a server-key copy of an event id wins over a public copy sent first (the squatting replay)",
        "shared/store/migrations/0005_trusted_copies_win.sql",
        " - if(trusted, 0, 4611686018427387904);",
        ";",
        ("tests/integration/api/test_write_access.py::test_the_server_copy_of_a_squatted_id_is_the_one_stored_and_counted",),
    ),
    Mutation(
        "origin-suffix-match",
        "a `*.` domain allows its subdomains only, not a look-alike host ending with its name",
        "shared/registry/model.py",
        "if host.endswith(domain[1:]):",
        "if host.endswith(domain[2:]):",
        ("tests/integration/api/test_write_access.py::test_a_write_key_is_refused_from_a_page_outside_its_projects_domains",),
    ),
    Mutation(
        "team-key-every-project",
        "a team key reads its team's projects only",
        "api/read_keys.py",
        "return ReadScope(projects, kind, f\"team:{grant.team_id}\")",
        "return ReadScope(None, kind, f\"team:{grant.team_id}\")",
        ("tests/integration/api/test_tenant_reads.py",),
    ),
    Mutation(
        "stats-query-strings",
        "a stats key reads URLs without their query strings",
        "shared/query/dimensions.py",
        'return f"cutQueryStringAndFragment({expression})"',
        "return expression",
        ("tests/integration/api/test_tenant_reads.py::test_a_stats_key_reads_cards_and_breakdowns_without_query_strings",),
    ),
    Mutation(
        "revoked-key-writes",
        "a revoked key is refused",
        "api/write_access.py",
        "if found.revoked or found.kind not in WRITE_KINDS or project is None:",
        "if found.kind not in WRITE_KINDS or project is None:",
        ("tests/integration/api/test_write_access.py::test_unknown_revoked_and_read_keys_cannot_write",),
    ),
    Mutation(
        "no-tombstone-check",
        "an event of an erased subject acknowledged before the request is never stored, wherever it waited",
        "worker/jobs.py",
        "        writer = FilteringWriter(writer, matcher)",
        "        pass",
        ("tests/integration/lifecycle/test_erasure_queue.py::test_the_writer_refuses_what_was_acknowledged_before_the_request_and_queued_after",),
    ),
    Mutation(
        "no-queue-rewrite",
        "an erasure takes the subject's events out of queued jobs, retries and dead letters",
        "shared/lifecycle/erase_queue.py",
        "                removed = sum(covered)",
        "                removed = 0",
        ("tests/integration/lifecycle/test_erasure_queue.py::test_an_erasure_reaches_the_store_the_queue_retries_and_dead_letters",),
    ),
    Mutation(
        "no-store-delete",
        "an erasure deletes the subject's stored rows",
        "shared/lifecycle/erase_store.py",
        "    if found:",
        "    if False:",
        ("tests/integration/lifecycle/test_erasure_api.py::test_deleting_a_project_with_erase_removes_its_events_only",),
    ),
    Mutation(
        "retention-not-in-reads",
        "no read shows an event past its project's retention, deleted yet or not",
        "shared/query/sql.py",
        "        conditions.append(kept)\n    if not selection.bots:",
        "        pass\n    if not selection.bots:",
        ("tests/integration/lifecycle/test_retention.py::test_reads_show_only_the_retention_window_and_the_store_drops_the_rest",),
    ),
    Mutation(
        "suppression-ignored",
        "a suppressed subject's later events are answered 201 and dropped",
        "api/suppressions.py",
        "return SUPPRESSED if matcher.match(row, _never, ip=ip) is not None else None",
        "return None",
        ("tests/integration/lifecycle/test_erasure_api.py::test_suppression_drops_the_subjects_later_events_until_lifted",),
    ),
)


def copy_tree(into: Path) -> None:
    """The working tree's tracked and new files (not ignored ones: no .venv, no data)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = into / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def apply(mutation: Mutation, tree: Path) -> bool:
    path = tree / mutation.path
    text = path.read_text(encoding="utf-8")
    if text.count(mutation.old) != 1:
        return False
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
    return True


def run_one(mutation: Mutation) -> tuple[str, float]:
    """'killed', 'SURVIVED' or 'not applied', and the seconds its tests took."""
    with tempfile.TemporaryDirectory(prefix="mut-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        if not apply(mutation, tree):
            return "not applied", 0.0
        started = time.monotonic()
        # The copy's own packages come first on sys.path (python -m puts the cwd there).
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
            cwd=tree,
            capture_output=True,
        )
        seconds = time.monotonic() - started
    if result.returncode == 1:  # tests ran and failed
        return "killed", seconds
    if result.returncode == 0:
        return "SURVIVED", seconds
    tail = result.stdout.decode(errors="replace").strip().splitlines()[-3:]
    return f"error (pytest exit {result.returncode}: {' / '.join(tail)})", seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutation names to run")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:30} {m.path:55} {m.guarantee}")
        return
    rows = []
    for mutation in chosen:
        verdict, seconds = run_one(mutation)
        rows.append((mutation, verdict, seconds))
        print(f"{mutation.name:30} {verdict:12} {seconds:6.1f} s  {mutation.guarantee}", flush=True)
    killed = sum(1 for _, verdict, _ in rows if verdict == "killed")
    print(f"\n{killed} of {len(rows)} mutations killed")
    raise SystemExit(0 if killed == len(rows) else 1)


if __name__ == "__main__":
    main()
