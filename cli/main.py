"""The `trackhouse` command. Builds Settings from the environment, configures logging,
then hands over to the part asked for (imported lazily: `migrate` needs no web stack)."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.logs import configure_logging
from shared.priority import yield_cpu_to_ingestion
from shared.settings import Settings

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)
REGISTRY_COMMANDS = ("teams", "projects", "keys")  # cli.registry
ERASURE_COMMANDS = ("erase", "erasures", "suppressions")  # cli.erasure


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackhouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="everything on one machine: Redis, the store process (chDB, workers) and the API"
    )
    _rq_dashboard_flags(up)
    api = commands.add_parser("api", help="the HTTP API alone (needs TRACKHOUSE_REDIS_URL)")
    _rq_dashboard_flags(api)
    api.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="serve the port with N processes (default: TRACKHOUSE_API_PROCESSES, 1)",
    )
    worker = commands.add_parser("worker", help="one worker process (needs TRACKHOUSE_REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="run N worker processes (ClickHouse server only)",
    )
    store = commands.add_parser(
        "store",
        help="the store process `up` supervises: chDB, the workers, reads on TRACKHOUSE_STORE_SOCKET",
    )
    store.add_argument(
        "--sole-worker",
        action="store_true",
        help="the only worker of its Redis: take back every job found held at start-up",
    )
    migrate = commands.add_parser("migrate", help="apply pending ClickHouse migrations")
    migrate.add_argument(
        "--dry-run",
        action="store_true",
        help="print the SQL a fresh store would run (for TRACKHOUSE_CLICKHOUSE_CLUSTER if set); connect to nothing",
    )
    status = commands.add_parser(
        "status", help="queue depth, retries, dead letters, workers, drain rate, store"
    )
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    from cli.query import add_arguments

    add_arguments(
        commands.add_parser("query", help="metrics from the running API (POST /api/query), as a table")
    )
    failed = commands.add_parser("failed", help="dead letters: jobs that used up their retries")
    actions = failed.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="failed jobs, oldest first")
    listing.add_argument("--limit", type=int, default=None, metavar="N", help="show the first N only")
    show = actions.add_parser("show", help="one job: meta, events and full traceback")
    show.add_argument("job_id", metavar="ID")
    requeue = actions.add_parser("requeue", help="put failed jobs back on the queue (one more attempt)")
    requeue.add_argument("job_ids", nargs="*", metavar="ID")
    requeue.add_argument("--all", action="store_true", help="every failed job")
    purge = actions.add_parser("purge", help="delete failed jobs (and the jobs they merged)")
    purge.add_argument(
        "--older-than",
        required=True,
        type=_duration,
        metavar="AGE",
        help="failed more than AGE ago: 30m, 12h, 7d",
    )
    from cli.erasure import add_commands as add_erasure_commands
    from cli.registry import add_commands as add_registry_commands

    add_registry_commands(commands)
    add_erasure_commands(commands)
    return parser


def _rq_dashboard_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rq-dashboard", action="store_true", help="mount rq-dashboard at /rq (needs TRACKHOUSE_ADMIN_TOKEN)"
    )
    # The flag's former name, still accepted (with a warning), no longer listed.
    parser.add_argument("--dashboard", action="store_true", dest="deprecated_dashboard", help=argparse.SUPPRESS)


def _duration(text: str) -> timedelta:
    from cli.failed import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ops(args: argparse.Namespace, settings: Settings) -> int:
    """`status`, `failed` and the registry's commands: Redis only (never open chDB: the
    running process owns it)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from shared.queue.connect import connect, connect_redis, describe_redis
    from shared.urls import embedded_redis_socket, mask_url, resolve_redis_url

    url = describe_redis(settings) if settings.redis_sentinels else resolve_redis_url(settings)
    if url is None:
        print(
            f"trackhouse {args.command}: no Redis to read: TRACKHOUSE_REDIS_URL is unset and there is no "
            f"embedded Redis socket at {embedded_redis_socket(settings)} (is `trackhouse up` running?)",
            file=sys.stderr,
        )
        return 1
    redis = connect(settings) if settings.redis_sentinels else connect_redis(url)
    try:
        if args.command == "status":
            return _status(redis, settings, url, as_json=args.json)
        if args.command in REGISTRY_COMMANDS:
            from cli.registry import run as run_registry

            return run_registry(redis, settings, args)
        if args.command in ERASURE_COMMANDS:
            from cli.erasure import run as run_erasure

            return run_erasure(redis, settings, args)
        return _failed(redis, settings, args)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        print(f"trackhouse {args.command}: Redis not reachable at {mask_url(url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        redis.close()


def _status(redis: Redis, settings: Settings, url: str, *, as_json: bool) -> int:
    from cli.status import gather, render

    snapshot = gather(redis, settings, url)
    print(snapshot.to_json().decode() if as_json else render(snapshot))
    return 0


def _failed(redis: Redis, settings: Settings, args: argparse.Namespace) -> int:
    from cli import failed

    if args.action == "list":
        print(failed.render_list(failed.list_failed(redis, settings, limit=args.limit)))
    elif args.action == "show":
        try:
            print(failed.render_detail(failed.show_failed(redis, args.job_id)))
        except failed.UnknownJob:
            print(f"trackhouse failed show: no job {args.job_id}", file=sys.stderr)
            return 1
    elif args.action == "requeue":
        if args.all == bool(args.job_ids):
            print("trackhouse failed requeue: give job ids or --all (not both)", file=sys.stderr)
            return 2
        if args.all:
            done, missing = failed.requeue_all(redis, settings)
        else:
            done, missing = failed.requeue(redis, settings, args.job_ids)
        print(f"requeued {len(done)} job(s)" + "".join(f"\n  {job_id}" for job_id in done))
        if missing:
            print(f"not in the failed registry: {', '.join(missing)}", file=sys.stderr)
            return 1
    elif args.action == "purge":
        purged = failed.purge_older_than(redis, settings, args.older_than)
        print(f"purged {len(purged)} failed job(s)" + "".join(f"\n  {job_id}" for job_id in purged))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Warnings while reading the settings (a renamed variable) are logged once logging is set up.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        settings = Settings()
    if getattr(args, "rq_dashboard", False) or getattr(args, "deprecated_dashboard", False):
        settings = settings.model_copy(update={"rq_dashboard": True})
    configure_logging(settings.log_level, settings.log_format)
    for warning in caught:
        log.warning("%s", warning.message)
    if getattr(args, "deprecated_dashboard", False):
        log.warning("--dashboard is deprecated: use --rq-dashboard")
    if args.command in ("store", "worker"):  # the processes that store events
        yield_cpu_to_ingestion(settings.worker_nice)
    if args.command == "up":
        from cli.up import run_embedded

        run_embedded(settings)
    elif args.command == "api":
        from api.server import run_api

        run_api(settings, processes=args.processes)
    elif args.command == "store":
        from shared.store_process.process import run_store

        run_store(settings, sole_worker=args.sole_worker)
    elif args.command == "worker":
        from worker.main import run_worker

        run_worker(settings, burst=args.burst, concurrency=args.concurrency)
    elif args.command == "migrate":
        from shared.store.client import open_client
        from shared.store.migrate import dry_run, migrate_configured

        if args.dry_run:
            print(dry_run(settings.clickhouse_database, settings.clickhouse_cluster))
            return 0
        applied = migrate_configured(open_client(settings.store_url), settings)
        print(f"applied {len(applied)} migration(s)" if applied else "schema up to date")
    elif args.command == "query":
        from cli.query import run

        return run(args, settings)
    elif args.command in ("status", "failed", *REGISTRY_COMMANDS, *ERASURE_COMMANDS):
        return _ops(args, settings)
    return 0
