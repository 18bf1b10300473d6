"""The `trackhouse` command. Builds Settings from the environment, configures logging,
then hands over to the part asked for (imported lazily: `migrate` needs no web stack)."""

from __future__ import annotations

import argparse
import sys

from shared.logs import configure_logging
from shared.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackhouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="everything in one process: Redis, chDB, workers and the API (embedded mode)"
    )
    up.add_argument(
        "--dashboard", action="store_true", help="mount rq-dashboard at /rq (needs TRACKHOUSE_ADMIN_TOKEN)"
    )
    commands.add_parser("api", help="the HTTP API alone (needs TRACKHOUSE_REDIS_URL)")
    worker = commands.add_parser("worker", help="one worker process (needs TRACKHOUSE_REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="run N worker processes (ClickHouse server only)",
    )
    commands.add_parser("migrate", help="apply pending ClickHouse migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "up":
        from api.server import run_embedded

        run_embedded(settings, dashboard=args.dashboard)
    elif args.command == "api":
        from api.server import run_api

        run_api(settings)
    elif args.command == "worker":
        from worker.main import run_worker

        run_worker(settings, burst=args.burst, concurrency=args.concurrency)
    elif args.command == "migrate":
        from shared.clickhouse import open_client
        from shared.migrate import migrate

        applied = migrate(open_client(settings.store_url), settings.clickhouse_database)
        print(f"applied {len(applied)} migration(s)" if applied else "schema up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
