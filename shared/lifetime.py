"""Child processes: those that must not outlive their parent, and their supervision.

A redis-server or a store process left behind by a crashed owner would hold the data
directory's lock (or the port) against its successor, so every child asks Linux to signal it
when its parent dies (`die_with_parent`, PR_SET_PDEATHSIG).

`Child` is one supervised process: started in its own session with the environment it needs,
restarted when it dies unless it keeps dying (`CrashLoop`), stopped with SIGTERM then SIGKILL.
`Supervisor` runs a group of children until SIGTERM/SIGINT: it restarts each one that dies,
forwards the signals, and waits for them to finish. `trackhouse worker --concurrency N` is a
`Supervisor` of N workers; `trackhouse up` (cli/up.py) drives its `Child`ren itself, to stop
them in order (the API before the store, the store before Redis).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

RESTARTS_PER_MINUTE = 5
"""More crashes than this in a minute: the fault is not transient; stop everything."""


def die_with_parent(sig: signal.Signals = signal.SIGKILL) -> None:
    """Ask Linux to send `sig` to this process when its parent dies. Call it in the child
    (as a Popen preexec_fn, or first thing in a spawned process)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


def terminate_with_parent() -> None:
    """`die_with_parent` with SIGTERM, as a Popen preexec_fn: the child shuts down cleanly (a
    redis-server flushes its AOF) instead of lingering and clashing with the next start."""
    die_with_parent(signal.SIGTERM)


class CrashLoop(RuntimeError):
    pass


class Child:
    """One supervised process. `parent_death_signal`: what it gets if the supervisor dies
    (SIGKILL by default; SIGTERM for a process that shuts down cleanly on it)."""

    def __init__(
        self,
        role: str,
        argv: list[str],
        env: dict[str, str],
        *,
        parent_death_signal: signal.Signals = signal.SIGKILL,
    ) -> None:
        self.role, self._argv, self._env = role, argv, env
        self._parent_death_signal = parent_death_signal
        self.process: subprocess.Popen[bytes] | None = None
        self._crashes: deque[float] = deque()

    def start(self) -> None:
        # Own session: a Ctrl-C in the terminal reaches the supervisor only, which stops the
        # children (in order, for `trackhouse up`) and signals each once.
        self.process = subprocess.Popen(
            self._argv, env=self._env, stdin=subprocess.DEVNULL,
            preexec_fn=functools.partial(die_with_parent, self._parent_death_signal),
            start_new_session=True,
        )  # fmt: skip
        log.info("started the %s process (pid %d)", self.role, self.process.pid)

    def exited(self) -> int | None:
        """The exit status if the child has exited, else None."""
        return None if self.process is None else self.process.poll()

    def send_signal(self, signum: int) -> None:
        """`signum` to the child if it runs."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def restart_after_crash(self) -> None:
        """Start again what died, unless it keeps dying (CrashLoop)."""
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - 60:
            self._crashes.popleft()
        status = self.exited()
        if len(self._crashes) > RESTARTS_PER_MINUTE:
            raise CrashLoop(f"the {self.role} process died {len(self._crashes)} times within a minute")
        log.error("the %s process exited (status %s): restarting it", self.role, status)
        self.start()

    def stop(self, timeout_seconds: float) -> None:
        """SIGTERM (each child drains its own work), then SIGKILL past the timeout."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        self.wait(timeout_seconds)

    def wait(self, timeout_seconds: float) -> int | None:
        """Wait for the child to exit, SIGKILL it past the timeout; its exit status."""
        process = self.process
        if process is None:
            return None
        try:
            return process.wait(timeout=max(0.0, timeout_seconds))
        except subprocess.TimeoutExpired:
            log.error("the %s process did not stop within %.0f s: killed", self.role, timeout_seconds)
            process.kill()
            return process.wait()


def wait_until(ready: Callable[[], bool], child: Child, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not ready():
        if (status := child.exited()) is not None:
            raise CrashLoop(f"the {child.role} process exited (status {status}) while starting")
        if time.monotonic() > deadline:
            raise CrashLoop(f"the {child.role} process was not ready within {timeout_seconds:.0f} s")
        time.sleep(0.1)


def _shell_status(status: int) -> int:
    """An exit status as a shell reports it: killed by signal N is 128 + N."""
    return 128 - status if status < 0 else status


class Supervisor:
    """Children run together until SIGTERM/SIGINT (`run`). One that exits is restarted, unless
    `finished(status)` says it is done (a `--burst` worker that drained the queue exits 0)."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        stop_timeout_seconds: float,
        finished: Callable[[int], bool] = lambda status: False,
        poll_seconds: float = 0.5,
    ) -> None:
        self.children = list(children)
        self._finished = finished
        self._stop_timeout = stop_timeout_seconds
        self._poll = poll_seconds
        self._done: set[int] = set()  # indexes of the children that finished

    def watch(self) -> bool:
        """Restart each child that exited and is not finished (CrashLoop if one keeps dying).
        False once every child has finished."""
        for index, child in enumerate(self.children):
            if index in self._done or (status := child.exited()) is None:
                continue
            if self._finished(status):
                log.info("the %s process finished (status %s)", child.role, status)
                self._done.add(index)
            else:
                child.restart_after_crash()
        return len(self._done) < len(self.children)

    def run(self) -> int:
        """Start the children and supervise them until a signal (forwarded to each running
        child, each time one arrives: a second SIGTERM is RQ's cold shutdown) or until every
        child has finished; past `stop_timeout_seconds` after the first signal the children
        left are killed. The highest exit status of the children's last runs, 1 after a
        CrashLoop."""
        received: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            received.append(signum)  # acted on in the loop, never halfway through a restart

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        crashed, forwarded, deadline = False, 0, None
        try:
            for child in self.children:
                child.start()
            pids = [child.process.pid for child in self.children if child.process]
            log.info("supervising %d processes: %s", len(self.children), pids)
            while True:
                if forwarded < len(received):
                    for signum in received[forwarded:]:
                        for child in self.children:
                            child.send_signal(signum)
                    forwarded = len(received)
                    deadline = deadline or time.monotonic() + self._stop_timeout
                if deadline is None:
                    try:
                        if not self.watch():
                            break
                    except CrashLoop as exc:
                        log.error("%s; stopping", exc)
                        crashed = True
                        received.append(signal.SIGTERM)
                        continue
                elif all(child.exited() is not None for child in self.children):
                    break
                elif time.monotonic() > deadline:
                    for child in self.children:
                        child.wait(0)
                    break
                time.sleep(self._poll)
        finally:
            for child in self.children:  # after an error of our own: none left behind
                if child.exited() is None:
                    child.stop(self._stop_timeout)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        statuses = [_shell_status(s) for c in self.children if (s := c.exited()) is not None]
        return 1 if crashed else max(statuses, default=0)
