"""`trackhouse teams|projects|keys` against a real Redis: what they change is what the API
processes read (a printed key is granted by a RegistryView, a revoked one refused), what they
print never holds a secret but once, and bad input is one line on stderr, never a traceback."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from redis import Redis

from cli import main as cli
from shared.queue.redis_server import free_port
from shared.registry.store import RegistryStore
from shared.registry.view import Grant, RegistryView
from tests.support.cli_runs import ok, ok_json, refused

pytestmark = pytest.mark.integration

SECRET = re.compile(r"\bth[wsrv]_[A-Za-z0-9]{32}\b")


def grant_of(redis: Redis, secret: str) -> Grant | None:
    view = RegistryView(RegistryStore(redis))
    assert view.refresh()
    return view.grant(secret.encode())


def test_teams_projects_and_keys_of_each_kind(real_redis: Redis, run_cli: Any) -> None:
    assert ok(run_cli, "teams", "list") == "no teams\n"
    assert "created team acme (Acme Inc)" in ok(run_cli, "teams", "create", "--team-id", "acme", "--name", "Acme Inc")
    team = ok_json(run_cli, "teams", "create", "--team-id", "other", "--name", "Other")
    assert set(team) == {"team_id", "name", "created_at"} and team["team_id"] == "other"
    listed = ok(run_cli, "teams", "list")
    assert "acme" in listed and "Acme Inc" in listed and "2 team(s)" in listed
    assert [t["team_id"] for t in ok_json(run_cli, "teams", "list")["teams"]] == ["acme", "other"]

    out = ok(
        run_cli, "projects", "create", "--project-id", "acme-web", "--team-id", "acme", "--name", "Web",
        "--domain", "Example.com", "--domain", "*.example.com", "--timezone", "Europe/Berlin",
        "--retention-days", "30", "--require-write-key",
    )  # fmt: skip
    assert "created project acme-web" in out and "example.com, *.example.com" in out and "30 day(s)" in out
    project = ok_json(run_cli, "projects", "show", "acme-web")
    assert {k: v for k, v in project.items() if k != "created_at"} == {
        "project_id": "acme-web",
        "team_id": "acme",
        "name": "Web",
        "domains": ["example.com", "*.example.com"],
        "timezone": "Europe/Berlin",
        "retention_days": 30,
        "require_write_key": True,
    }
    defaults = ok_json(run_cli, "projects", "create", "--project-id", "o1", "--team-id", "other", "--name", "O")
    assert (defaults["domains"], defaults["timezone"], defaults["retention_days"]) == ([], "UTC", None)
    assert defaults["require_write_key"] is False
    assert [p["project_id"] for p in ok_json(run_cli, "projects", "list")["projects"]] == ["acme-web", "o1"]
    assert [p["project_id"] for p in ok_json(run_cli, "projects", "list", "--team-id", "other")["projects"]] == ["o1"]
    assert "any" in ok(run_cli, "projects", "list", "--team-id", "other")

    secrets: dict[str, str] = {}
    for kind in ("write", "server", "read", "stats"):
        extra = ["--rate-limit-per-second", "50"] if kind == "write" else []
        out = ok(run_cli, "keys", "create", "--project-id", "acme-web", "--kind", kind, "--name", f"{kind} one", *extra)
        [secret] = SECRET.findall(out)
        assert "only time the key is shown" in out
        secrets[kind] = secret
        grant = grant_of(real_redis, secret)
        assert grant is not None and not grant.revoked
        assert (grant.kind, grant.team_id, grant.project_id) == (kind, "acme", "acme-web")
        assert grant.rate_limit_per_second == (50 if kind == "write" else None)
    team_key = ok_json(run_cli, "keys", "create", "--team-id", "acme", "--kind", "stats", "--name", "board")
    assert (team_key["project_id"], team_key["team_id"], team_key["kind"]) == (None, "acme", "stats")
    grant = grant_of(real_redis, team_key["key"])
    assert grant is not None and (grant.project_id, grant.team_id) == (None, "acme")
    secrets["team"] = team_key["key"]

    listed = ok(run_cli, "keys", "list")
    listed_json = ok_json(run_cli, "keys", "list")
    for secret in secrets.values():
        assert secret not in listed and secret not in json.dumps(listed_json)
    assert not SECRET.search(listed) and "5 key(s)" in listed and "(team key)" in listed
    assert all("key" not in k for k in listed_json["keys"])
    assert [k["kind"] for k in listed_json["keys"]] == ["write", "server", "read", "stats", "stats"]
    assert len(ok_json(run_cli, "keys", "list", "--project-id", "acme-web")["keys"]) == 4
    assert ok_json(run_cli, "keys", "list", "--team-id", "other")["keys"] == []


def test_update_delete_and_revoke(real_redis: Redis, run_cli: Any) -> None:
    ok(run_cli, "teams", "create", "--team-id", "t", "--name", "T")
    ok(run_cli, "projects", "create", "--project-id", "p", "--team-id", "t", "--name", "P", "--domain", "a.com")
    updated = ok_json(run_cli, "projects", "update", "p", "--name", "New", "--timezone", "Asia/Tokyo", "--require-write-key")
    assert (updated["name"], updated["timezone"], updated["domains"], updated["require_write_key"]) == (
        "New", "Asia/Tokyo", ["a.com"], True,
    )  # fmt: skip
    out = ok(run_cli, "projects", "update", "p", "--no-domains", "--no-require-write-key", "--retention-days", "7")
    assert "updated project p" in out and "any (no origin check)" in out
    shown = ok_json(run_cli, "projects", "show", "p")
    assert (shown["name"], shown["domains"], shown["require_write_key"], shown["retention_days"]) == ("New", [], False, 7)

    key = ok_json(run_cli, "keys", "create", "--project-id", "p", "--kind", "write", "--name", "site")
    other = ok_json(run_cli, "keys", "create", "--project-id", "p", "--kind", "read", "--name", "reader")
    assert "revoked key" in ok(run_cli, "keys", "revoke", key["id"])
    grant = grant_of(real_redis, key["key"])
    assert grant is not None and grant.revoked
    assert [k["id"] for k in ok_json(run_cli, "keys", "list")["keys"]] == [other["id"]]
    assert "not found" in refused(run_cli, 1, "keys", "revoke", key["id"])  # once only

    assert "its keys are revoked" in ok(run_cli, "projects", "delete", "p")
    grant = grant_of(real_redis, other["key"])
    assert grant is not None and grant.revoked
    assert ok_json(run_cli, "keys", "list")["keys"] == []
    assert "project 'p' not found" in refused(run_cli, 1, "projects", "show", "p")
    assert ok(run_cli, "projects", "list") == "no projects\n"


def test_bad_input_is_one_line_and_a_non_zero_exit(real_redis: Redis, run_cli: Any) -> None:
    assert "--team-id: 'a b' is not an id" in refused(run_cli, 2, "teams", "create", "--team-id", "a b", "--name", "X")
    assert "--name: must be one line" in refused(run_cli, 2, "teams", "create", "--team-id", "a", "--name", "x\ny")
    ok(run_cli, "teams", "create", "--team-id", "t", "--name", "T")
    assert "team 't' exists" in refused(run_cli, 1, "teams", "create", "--team-id", "t", "--name", "T")

    project = ["projects", "create", "--project-id", "p", "--name", "P"]
    assert "team 'nope' not found" in refused(run_cli, 1, *project, "--team-id", "nope")
    assert "--timezone: must be an IANA time zone" in refused(run_cli, 2, *project, "--team-id", "t", "--timezone", "Mars/Base")
    assert "--domain: 'x y' is not a hostname" in refused(run_cli, 2, *project, "--team-id", "t", "--domain", "x y")
    assert "--retention-days" in refused(run_cli, 2, *project, "--team-id", "t", "--retention-days", "-1")
    ok(run_cli, *project, "--team-id", "t")
    assert "project 'p' exists" in refused(run_cli, 1, *project, "--team-id", "t")
    assert "--team-id: 'a b'" in refused(run_cli, 2, "projects", "list", "--team-id", "a b")
    assert "ID: 'a b' is not an id" in refused(run_cli, 2, "projects", "show", "a b")
    assert "nothing to change" in refused(run_cli, 2, "projects", "update", "p")
    assert "project 'q' not found" in refused(run_cli, 1, "projects", "update", "q", "--name", "Q")
    assert "project 'q' not found" in refused(run_cli, 1, "projects", "delete", "q")

    key = ["keys", "create", "--name", "k"]
    assert "only write and server keys" in refused(
        run_cli, 2, *key, "--project-id", "p", "--kind", "read", "--rate-limit-per-second", "5"
    )
    assert "--rate-limit-per-second" in refused(
        run_cli, 2, *key, "--project-id", "p", "--kind", "write", "--rate-limit-per-second", "0"
    )
    assert "a team key is one of read, stats" in refused(run_cli, 2, *key, "--team-id", "t", "--kind", "write")
    assert "project 'q' not found" in refused(run_cli, 1, *key, "--project-id", "q", "--kind", "write")
    assert "team 'q' not found" in refused(run_cli, 1, *key, "--team-id", "q", "--kind", "read")
    assert "key 'key_nope' not found" in refused(run_cli, 1, "keys", "revoke", "key_nope")
    assert ok_json(run_cli, "keys", "list")["keys"] == []  # nothing was made by a refused command


def test_usage_errors_exit_2(run_cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["keys", "create", "--project-id", "p", "--team-id", "t", "--kind", "read", "--name", "k"],
        ["keys", "create", "--project-id", "p", "--kind", "admin", "--name", "k"],
        ["projects", "update", "p", "--domain", "a.com", "--no-domains"],
    ):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_redis_unreachable_is_one_line_exit_1(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKHOUSE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert "Redis not reachable" in refused(run_cli, 1, "teams", "list")
