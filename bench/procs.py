"""Child processes of the bench: start on loopback, wait until ready, sample RSS, always stop.

Every process is started through a `Processes` registry that stops whatever is still
running, newest first, when its `with` block ends (also on errors and Ctrl-C), so a run
never leaves anything behind. Children also get SIGTERM if the harness itself dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: if the harness is SIGKILLed, its children get SIGTERM instead of lingering.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


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
                preexec_fn=_die_with_parent,
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


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (`trackhouse api --processes N` serves from N children)."""
    tree, index = [pid], 0
    while index < len(tree):
        with contextlib.suppress(OSError):  # gone meanwhile
            tree += [
                int(c) for c in Path(f"/proc/{tree[index]}/task/{tree[index]}/children").read_text().split()
            ]
        index += 1
    return tree


def _own_rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_bytes(pid: int) -> int | None:
    """VmRSS of `pid` and its descendants together."""
    sizes = [size for size in map(_own_rss_bytes, process_tree(pid)) if size is not None]
    return sum(sizes) if sizes else None


class RssSampler:
    """Peak VmRSS of one process (with its descendants), sampled every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self._pid) or 0)
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self._pid) or 0)


def _own_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` and its live descendants so far (/proc/<pid>/stat fields
    14 and 15)."""
    times = [t for t in map(_own_cpu_seconds, process_tree(pid)) if t is not None]
    return sum(times) if times else None


def _reaped_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds each process used during the `with` block: on a 2-core box the API, the
    worker, Redis and wrk compete, so where the CPU went explains the figures."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._start: dict[str, float | None] = {}
        self._children = 0.0
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._children = _reaped_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        for name, pid in self._pids.items():
            start, end = self._start.get(name), cpu_seconds(pid)
            if start is not None and end is not None:
                self.seconds[name] = end - start
        # The load generator ran (and was reaped) inside the block: it is the children's delta.
        self.seconds["wrk"] = _reaped_cpu() - self._children

    def describe(self, load_seconds: float) -> str:
        """Per process, % of one core over the seconds of load (the grace period is idle)."""
        return ", ".join(f"{name} {used / load_seconds * 100:.0f}%" for name, used in self.seconds.items())
