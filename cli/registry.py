"""`trackhouse teams|projects|keys`: the project registry from the command line.

The same changes as the admin API (api/routes/admin.py), made on Redis directly through
`RegistryStore`: no token, no running API needed, only the Redis the services use. Input goes
through the same models (`TeamIn`, `ProjectIn`, `ProjectPatch`, `KeyIn`); `--json` prints what
the admin API answers. Every error is one line on stderr: exit 2 for bad input, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.queue.connect import ReplicasBehind
from shared.registry.connect import registry_store
from shared.registry.model import (
    ID_PATTERN,
    PROJECT_KINDS,
    CreatedKey,
    Key,
    KeyIn,
    Project,
    ProjectIn,
    ProjectPatch,
    RegistryId,
    TeamIn,
)
from shared.registry.store import RegistryError, RegistryStore
from shared.settings import Settings

BAD_INPUT: Final = 2
FAILED: Final = 1

_FLAGS: Final = {"domains": "--domain", "kind": "--kind"}
"""Model fields whose flag is not `--` + the field with hyphens."""
_ID_PROBLEM: Final = "not an id (1-64 characters of A-Z a-z 0-9 . _ -)"
_ID = TypeAdapter(RegistryId)


class BadInput(Exception):
    """A usage error found after parsing (exit 2)."""


def add_commands(commands: Any) -> None:
    """The three commands on `trackhouse`'s subparsers (`commands`, from add_subparsers)."""
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print the admin API's JSON answer")
    common = [json_flag]

    teams = commands.add_parser("teams", help="registry: teams (each owns projects and team keys)")
    actions = teams.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=common, help="create a team")
    create.add_argument("--team-id", required=True, metavar="ID")
    create.add_argument("--name", required=True)
    actions.add_parser("list", parents=common, help="every team")

    projects = commands.add_parser("projects", help="registry: projects (what events name in project_id)")
    actions = projects.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=common, help="create a project in a team")
    create.add_argument("--project-id", required=True, metavar="ID")
    create.add_argument("--team-id", required=True, metavar="ID")
    create.add_argument("--name", required=True)
    _project_flags(create)
    create.add_argument(
        "--require-write-key",
        action="store_true",
        help="refuse (401) events for this project without one of its write or server keys",
    )
    listing = actions.add_parser("list", parents=common, help="every project, or one team's")
    listing.add_argument("--team-id", metavar="ID", help="only this team's")
    show = actions.add_parser("show", parents=common, help="one project")
    show.add_argument("project_id", metavar="ID")
    update = actions.add_parser("update", parents=common, help="change a project (what is not given stays)")
    update.add_argument("project_id", metavar="ID")
    update.add_argument("--name")
    _project_flags(update, domains=update.add_mutually_exclusive_group())
    update.add_argument(
        "--require-write-key",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="refuse (401) events for this project without one of its write or server keys, or stop",
    )
    delete = actions.add_parser(
        "delete", parents=common, help="remove a project and revoke its keys (its events stay)"
    )
    delete.add_argument("project_id", metavar="ID")

    keys = commands.add_parser("keys", help="registry: keys (write, server, read, stats)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", parents=common, help="create a key; its secret is printed once, never again"
    )
    owner = create.add_mutually_exclusive_group(required=True)
    owner.add_argument("--project-id", metavar="ID", help="a project's key (any kind)")
    owner.add_argument("--team-id", metavar="ID", help="a team's key, over all its projects (read, stats)")
    create.add_argument("--kind", required=True, choices=PROJECT_KINDS)
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument(
        "--rate-limit-per-second",
        type=float,
        default=None,
        metavar="R",
        help="write and server keys: requests per second (429 past it)",
    )
    listing = actions.add_parser("list", parents=common, help="keys not revoked, without their secrets")
    listing.add_argument("--team-id", metavar="ID", help="only this team's (its project keys too)")
    listing.add_argument("--project-id", metavar="ID", help="only this project's")
    revoke = actions.add_parser(
        "revoke", parents=common, help="revoke a key at once (--json: prints nothing, like the API's 204)"
    )
    revoke.add_argument("key_id", metavar="KEY_ID")


def _project_flags(parser: argparse.ArgumentParser, *, domains: Any = None) -> None:
    (domains or parser).add_argument(
        "--domain",
        action="append",
        dest="domains",
        default=None,
        metavar="HOST",
        help="a hostname whose pages may send with the write keys (*.example.com: its subdomains); "
        "repeat for more; none: any origin",
    )
    if domains is not None:
        domains.add_argument(
            "--no-domains", action="store_true", help="clear the list: pages on any origin may send"
        )
    parser.add_argument("--timezone", metavar="TZ", help="the dashboard's default (IANA name; default UTC)")
    parser.add_argument(
        "--retention-days", type=int, default=None, metavar="N", help="days of events kept (0: forever; unset: TRACKHOUSE_RETENTION_DAYS)"
    )


def run(redis: Redis, settings: Settings, args: argparse.Namespace) -> int:
    """One registry command on `redis`. Connection errors and timeouts propagate (the caller
    names the Redis it could not reach); every other failure is a line on stderr and an exit code."""
    command = f"trackhouse {args.command} {args.action}"
    try:
        work = _ACTIONS[args.command][args.action]
        printed = work(registry_store(redis, settings), args)
    except ValidationError as exc:
        return _fail(command, _problems(exc), BAD_INPUT)
    except BadInput as exc:
        return _fail(command, str(exc), BAD_INPUT)
    except RegistryError as exc:
        return _fail(command, exc.message, BAD_INPUT if exc.status == 400 else FAILED)
    except ReplicasBehind as exc:
        return _fail(command, f"{exc}: the change is on the primary, not yet acknowledged", FAILED)
    except (RedisConnectionError, RedisTimeoutError):
        raise
    except RedisError as exc:
        return _fail(command, f"Redis refused: {type(exc).__name__}: {exc}", FAILED)
    if printed:
        print(printed)
    return 0


def _fail(command: str, message: str, code: int) -> int:
    print(f"{command}: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message
    return code


def _problems(exc: ValidationError) -> str:
    return "; ".join(_problem(error) for error in exc.errors(include_url=False))


def _problem(error: Any) -> str:
    loc = error["loc"]
    field = str(loc[0]) if loc else ""
    flag = _FLAGS.get(field, "--" + field.replace("_", "-")) if field else "input"
    ctx = error.get("ctx") or {}
    if error["type"] == "string_pattern_mismatch" and ctx.get("pattern") == ID_PATTERN:
        problem = f"{error['input']!r} is {_ID_PROBLEM}"
    elif error["type"] == "string_pattern_mismatch":
        problem = "must be one line, without control characters"
    elif error["type"] == "value_error" and "error" in ctx:
        problem = str(ctx["error"])
    else:
        problem = error["msg"]
    return f"{flag}: {problem}"


def _id(value: str, flag: str) -> str:
    """An id given as an argument (a model checks those given as fields)."""
    try:
        return _ID.validate_python(value)
    except ValidationError:
        raise BadInput(f"{flag}: {value!r} is {_ID_PROBLEM}") from None


def _optional_id(value: str | None, flag: str) -> str | None:
    return None if value is None else _id(value, flag)


def _given(args: argparse.Namespace, *fields: str) -> dict[str, Any]:
    """The fields given on the command line (absent ones keep the model's defaults)."""
    return {field: getattr(args, field) for field in fields if getattr(args, field) is not None}


# --- the actions: each returns what to print ---
def _teams_create(store: RegistryStore, args: argparse.Namespace) -> str:
    team = store.create_team(TeamIn(team_id=args.team_id, name=args.name))
    return _json(team) if args.json else f"created team {team.team_id} ({team.name})"


def _teams_list(store: RegistryStore, args: argparse.Namespace) -> str:
    teams = store.teams()
    if args.json:
        return _json({"teams": [t.model_dump() for t in teams]})
    return _table(["TEAM", "NAME", "CREATED AT"], [[t.team_id, t.name, t.created_at] for t in teams], "team")


def _projects_create(store: RegistryStore, args: argparse.Namespace) -> str:
    fields = _given(args, "project_id", "team_id", "name", "domains", "timezone", "retention_days")
    body = ProjectIn(**fields, require_write_key=args.require_write_key)
    project = store.create_project(body)
    return _json(project) if args.json else f"created project {project.project_id}\n{_project(project)}"


def _projects_list(store: RegistryStore, args: argparse.Namespace) -> str:
    projects = store.projects(_optional_id(args.team_id, "--team-id"))
    if args.json:
        return _json({"projects": [p.model_dump() for p in projects]})
    rows = [
        [
            p.project_id,
            p.team_id,
            p.name,
            ", ".join(p.domains) or "any",
            p.timezone,
            _retention(p.retention_days),
            "yes" if p.require_write_key else "no",
        ]
        for p in projects
    ]
    headers = ["PROJECT", "TEAM", "NAME", "DOMAINS", "TIMEZONE", "RETENTION", "WRITE KEY REQUIRED"]
    return _table(headers, rows, "project")


def _projects_show(store: RegistryStore, args: argparse.Namespace) -> str:
    project = store.project(_id(args.project_id, "ID"))
    return _json(project) if args.json else _project(project)


def _projects_update(store: RegistryStore, args: argparse.Namespace) -> str:
    project_id = _id(args.project_id, "ID")
    fields = _given(args, "name", "domains", "timezone", "retention_days", "require_write_key")
    if args.no_domains:
        fields["domains"] = []
    if not fields:
        raise BadInput(
            "nothing to change: give --name, --domain, --no-domains, --timezone, --retention-days "
            "or --[no-]require-write-key"
        )
    project = store.update_project(project_id, ProjectPatch(**fields))
    return _json(project) if args.json else f"updated project {project.project_id}\n{_project(project)}"


def _projects_delete(store: RegistryStore, args: argparse.Namespace) -> str:
    project = store.delete_project(_id(args.project_id, "ID"))
    if args.json:
        return _json(project)
    return f"deleted project {project.project_id} from the registry: its keys are revoked, its events stay"


def _keys_create(store: RegistryStore, args: argparse.Namespace) -> str:
    body = KeyIn(**_given(args, "kind", "name", "rate_limit_per_second"))
    project_id = _optional_id(args.project_id, "--project-id")
    team_id = _optional_id(args.team_id, "--team-id")
    key = store.create_key(body, project_id=project_id, team_id=team_id)
    return _json(key) if args.json else _created_key(key)


def _keys_list(store: RegistryStore, args: argparse.Namespace) -> str:
    keys = store.keys(_optional_id(args.team_id, "--team-id"), _optional_id(args.project_id, "--project-id"))
    if args.json:
        return _json({"keys": [k.model_dump() for k in keys]})
    headers = ["KEY ID", "KIND", "TEAM", "PROJECT", "NAME", "RATE/S", "CREATED AT", "LAST USED"]
    return _table(headers, [_key_row(k) for k in keys], "key")


def _keys_revoke(store: RegistryStore, args: argparse.Namespace) -> str:
    store.revoke_key(args.key_id)
    return "" if args.json else f"revoked key {args.key_id}: refused from now on by every API process"


_Action = Callable[[RegistryStore, argparse.Namespace], str]
_ACTIONS: Final[dict[str, dict[str, _Action]]] = {
    "teams": {"create": _teams_create, "list": _teams_list},
    "projects": {
        "create": _projects_create,
        "list": _projects_list,
        "show": _projects_show,
        "update": _projects_update,
        "delete": _projects_delete,
    },
    "keys": {"create": _keys_create, "list": _keys_list, "revoke": _keys_revoke},
}


# --- rendering ---
def _json(value: BaseModel | dict[str, Any]) -> str:
    data = value.model_dump() if isinstance(value, BaseModel) else value
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _table(headers: list[str], rows: Sequence[list[str]], noun: str) -> str:
    if not rows:
        return f"no {noun}s"
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join([*lines, f"{len(rows)} {noun}(s)"])


def _retention(days: int | None) -> str:
    if days is None:
        return "default"
    return "forever" if days == 0 else f"{days} day(s)"


def _project(project: Project) -> str:
    rows = [
        ("project", project.project_id),
        ("team", project.team_id),
        ("name", project.name),
        ("domains", ", ".join(project.domains) or "any (no origin check)"),
        ("timezone", project.timezone),
        ("retention", _retention(project.retention_days)),
        ("write key required", "yes" if project.require_write_key else "no"),
        ("created at", project.created_at),
    ]
    return "\n".join(f"  {label:<19} {value}" for label, value in rows)


def _owner(key: Key) -> str:
    if key.project_id is None:
        return f"team {key.team_id} (every project of it)"
    return f"project {key.project_id} (team {key.team_id})"


def _created_key(key: CreatedKey) -> str:
    rate = f", {key.rate_limit_per_second:g} requests/s" if key.rate_limit_per_second is not None else ""
    return "\n".join(
        [
            f"created {key.kind} key {key.id} for {_owner(key)}: {key.name}{rate}",
            "",
            f"    {key.key}",
            "",
            "This is the only time the key is shown: store it now. Only its hash is kept; "
            f"if it is lost, create another and revoke this one (trackhouse keys revoke {key.id}).",
        ]
    )


def _key_row(key: Key) -> list[str]:
    rate = f"{key.rate_limit_per_second:g}" if key.rate_limit_per_second is not None else "-"
    return [
        key.id,
        key.kind,
        key.team_id,
        key.project_id or "(team key)",
        key.name,
        rate,
        key.created_at,
        key.last_used_at or "-",
    ]

