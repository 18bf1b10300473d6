"""`trackhouse erase|erasures|suppressions`: erasure from the command line, on Redis directly
(`ErasureStore`, as the admin API does): the request is answered once durable; a worker runs
it. `--wait` follows it to `done`. Errors are one line on stderr (2: bad input, 1 otherwise)."""

from __future__ import annotations

import argparse
import getpass
import socket
import time
from typing import Any, Final

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cli.registry import BAD_INPUT, FAILED, _fail, _json, _table
from shared.lifecycle.erasures import Erasure, ErasureIn, ErasureStore
from shared.lifecycle.subjects import SUBJECT_KINDS
from shared.queue.connect import ReplicasBehind
from shared.registry.store import RegistryError
from shared.settings import Settings

_FLAG: Final = {"user_id": "--user-id", "visitor_id": "--visitor-id", "user_email": "--email", "ip_address": "--ip", "event_id": "--event-id"}
_POLL_SECONDS: Final = 0.5


def add_commands(commands: Any) -> None:
    erase = commands.add_parser("erase", help="erase one subject's events everywhere (store, queue, retries, dead letters)")
    for kind in SUBJECT_KINDS:
        erase.add_argument(_FLAG[kind], dest=kind, action="append", metavar="VALUE", help=f"erase by {kind} (repeatable)")
    erase.add_argument("--project", metavar="ID", help="only this registered project's events")
    erase.add_argument("--team", metavar="ID", help="only this registered team's events")
    erase.add_argument("--suppress", action="store_true", help="drop the subject's later events at the API too")
    erase.add_argument("--wait", action="store_true", help="return once the erasure is done (or failed)")
    erase.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS", help="with --wait (default 600)")
    erase.add_argument("--json", action="store_true", help="print the admin API's JSON answer")

    erasures = commands.add_parser("erasures", help="the erasure log")
    actions = erasures.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every erasure, oldest first").add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one erasure")
    show.add_argument("erasure_id")
    show.add_argument("--json", action="store_true")

    suppressions = commands.add_parser("suppressions", help="subjects whose events the API drops")
    actions = suppressions.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every suppression").add_argument("--json", action="store_true")
    lift = actions.add_parser("lift", help="lift a suppression: the subject's events are stored again")
    lift.add_argument("suppression_id")


def run(redis: Redis, settings: Settings, args: argparse.Namespace) -> int:
    command = f"trackhouse {args.command}" + (f" {args.action}" if getattr(args, "action", None) else "")
    try:
        store = ErasureStore.for_settings(redis, settings)
        if args.command == "erase":
            return _erase(store, args, command)
        if args.command == "erasures":
            if args.action == "list":
                erasures = store.all()
                print(_json({"erasures": [e.model_dump() for e in erasures]}) if args.json else _erasure_table(erasures))
            else:
                erasure = store.get(args.erasure_id)
                print(_json(erasure) if args.json else _erasure_table([erasure]))
            return 0
        if args.action == "list":
            found = store.suppressions()
            if args.json:
                print(_json({"suppressions": [s.model_dump() for s in found]}))
            else:
                rows = [[s.id, s.subject_kind, str(len(s.subject_hashes)), s.team_id or "-", s.project_id or "-", s.created_at] for s in found]
                print(_table(["SUPPRESSION", "KIND", "VALUES", "TEAM", "PROJECT", "SINCE"], rows, "suppression"))
        else:
            store.lift(args.suppression_id)
            print(f"lifted suppression {args.suppression_id}: the subject's events are stored again")
        return 0
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return _fail(command, f"{'.'.join(str(p) for p in first['loc']) or 'input'}: {first['msg']}", BAD_INPUT)
    except RegistryError as exc:
        return _fail(command, exc.message, BAD_INPUT if exc.status == 400 else FAILED)
    except ReplicasBehind as exc:
        return _fail(command, f"{exc}: recorded on the primary, not yet acknowledged", FAILED)
    except (RedisConnectionError, RedisTimeoutError):
        raise
    except RedisError as exc:
        return _fail(command, f"Redis refused: {type(exc).__name__}: {exc}", FAILED)


def _erase(store: ErasureStore, args: argparse.Namespace, command: str) -> int:
    given = {kind: getattr(args, kind) for kind in SUBJECT_KINDS if getattr(args, kind)}
    if len(given) != 1:
        return _fail(command, "give exactly one of " + ", ".join(_FLAG.values()), BAD_INPUT)
    body = ErasureIn(
        subject=given,
        project_id=args.project,
        team_id=args.team,
        suppress=args.suppress,
        requested_by=f"cli:{getpass.getuser()}@{socket.gethostname()}"[:200],
    )
    erasure = store.request(body)
    if args.wait:
        deadline = time.monotonic() + args.timeout
        while erasure.status not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            erasure = store.get(erasure.id)
    print(_json(erasure) if args.json else _erasure_table([erasure]))
    if args.wait and erasure.status != "done":
        return _fail(command, f"erasure {erasure.id} is {erasure.status}" + (f": {erasure.error}" if erasure.error else ""), FAILED)
    return 0


def _erasure_table(erasures: list[Erasure]) -> str:
    rows = [
        [
            e.id,
            e.status,
            f"{e.subject_kind} x{e.values}",
            e.project_id or e.team_id or "all",
            str(e.rows_deleted),
            str(e.queued_removed),
            e.requested_by,
            e.requested_at,
            e.finished_at or "-",
        ]
        for e in erasures
    ]
    headers = ["ERASURE", "STATUS", "SUBJECT", "SCOPE", "ROWS DELETED", "QUEUED REMOVED", "BY", "REQUESTED", "FINISHED"]
    return _table(headers, rows, "erasure")
