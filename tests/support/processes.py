"""Running trackhouse as real processes, and talking to them over HTTP (loopback only)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def child_port() -> int:
    """A free loopback port for a child process to bind. Binding port 0 and closing it (the
    usual trick) hands back an ephemeral port, which the kernel may give to any outgoing
    connection before the child binds it (the chaos load opens many). Ports below the
    ephemeral range the kernel never hands out, so only another picker can take this one."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randint(10_000, low - 1)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def trackhouse(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    return spawn(["cli", *command], env, log_path)


def spawn(module_and_args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m <module> <args>` with `env` as its only TRACKHOUSE_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHOUSE_")}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *module_and_args],
            env={**clean, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout_seconds: float,
    what: str,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (OSError,),
) -> T:
    """`check()`'s first truthy result, tried every `interval` s; raising one of `ignoring` (a
    server not listening yet) counts as not yet. The suite's one polling loop."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except ignoring:
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")


def query_chdb(chdb_url: str, sql: str) -> list[list[Any]]:
    """Rows of `sql` on a chDB directory, read by a fresh process (one engine per process: the
    process that wrote it must have let go)."""
    script = (
        "import json, sys\n"
        "from shared.store.client import open_client\n"
        "rows = open_client(sys.argv[1]).query(sys.argv[2]).result_rows\n"
        "sys.stdout.write(json.dumps([list(row) for row in rows]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, chdb_url, sql],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    rows: list[list[Any]] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return rows


def prepare_chdb(chdb_url: str, database: str = "trackhouse") -> None:
    """Migrate a chDB directory and freeze its merges (tests.support.audit), in a process of its
    own, before the processes under test open it: every insert they make stays a row."""
    script = (
        "import sys\n"
        "from shared.store.client import open_client\n"
        "from shared.store.migrate import migrate\n"
        "from tests.support.audit import freeze_merges\n"
        "client = open_client(sys.argv[1])\n"
        "migrate(client, sys.argv[2])\n"
        "freeze_merges(client, sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", script, chdb_url, database], cwd=ROOT, check=True, timeout=300)


def dump_event_ids(chdb_url: str, database: str) -> list[str]:
    """Event ids stored in a chDB directory (one per row: a duplicate shows twice, if the store
    was frozen by `prepare_chdb`)."""
    return [str(row[0]) for row in query_chdb(chdb_url, f"SELECT event_id FROM {database}.events")]
