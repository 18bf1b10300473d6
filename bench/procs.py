"""Child processes of the bench: start on loopback, wait until ready, always stop (bench/meter.py
measures what they use).

Every process is started through a `Processes` registry that stops whatever is still
running, newest first, when its `with` block ends (also on errors and Ctrl-C), so a run
never leaves anything behind. Children also get SIGTERM if the harness itself dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from shared.lifetime import terminate_with_parent

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The harness's environment minus any TRACKHOUSE_* the caller had set, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHOUSE_")}
    return {**env, **extra}


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Proc:
    """One child process with its log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the harness, which then stops
            # the children in order (worker before Redis) instead of all at once.
            self.popen = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=terminate_with_parent,  # the harness SIGKILLed: its children stop
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}; log {self.log_path}:\n"
                f"{log_tail(self.log_path)}"
            )

    def stop(self, timeout_seconds: float = 60.0) -> int | None:
        """SIGTERM (warm shutdown), wait; SIGKILL only if it does not exit in time."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                print(
                    f"  ! {self.name} ignored SIGTERM for {timeout_seconds:.0f} s: killing", file=sys.stderr
                )
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


class Processes:
    """Registry of started children; stops the survivors (newest first) on exit."""

    def __init__(self) -> None:
        self._procs: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Proc:
        proc = Proc(name, argv, env, log_path)
        self._procs.append(proc)
        return proc

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in reversed(self._procs):
            with contextlib.suppress(Exception):
                proc.stop(timeout_seconds=30)


def http_status(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> int:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_http_ok(url: str, proc: Proc, timeout_seconds: float = 60.0) -> None:
    """Poll GET `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        proc.check_alive()
        with contextlib.suppress(OSError):
            if http_status("GET", url, timeout=2) == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} did not answer 200 on {url} within {timeout_seconds:.0f} s")
