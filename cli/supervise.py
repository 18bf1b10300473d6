"""Child processes of `trackhouse up`: started with the environment they need, restarted when
they die, stopped in order. A child dies with its supervisor (PR_SET_PDEATHSIG): a SIGKILLed
`trackhouse up` leaves nothing behind holding the chDB lock or the port."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable

from shared.lifetime import die_with_parent

log = logging.getLogger(__name__)

RESTARTS_PER_MINUTE = 5
"""More crashes than this in a minute: the fault is not transient; stop everything."""


class CrashLoop(RuntimeError):
    pass


class Child:
    def __init__(self, role: str, argv: list[str], env: dict[str, str]) -> None:
        self.role, self._argv, self._env = role, argv, env
        self.process: subprocess.Popen[bytes] | None = None
        self._crashes: deque[float] = deque()

    def start(self) -> None:
        # Own session: a Ctrl-C in the terminal reaches the supervisor only, which stops the
        # children in order (the API before the store, the store before Redis).
        self.process = subprocess.Popen(
            self._argv, env=self._env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
            start_new_session=True,
        )  # fmt: skip
        log.info("started the %s process (pid %d)", self.role, self.process.pid)

    def exited(self) -> int | None:
        """The exit status if the child has exited, else None."""
        return None if self.process is None else self.process.poll()

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
        try:
            process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            log.error("the %s process did not stop within %.0f s: killed", self.role, timeout_seconds)
            process.kill()
            process.wait()


def wait_until(ready: Callable[[], bool], child: Child, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not ready():
        if (status := child.exited()) is not None:
            raise CrashLoop(f"the {child.role} process exited (status {status}) while starting")
        if time.monotonic() > deadline:
            raise CrashLoop(f"the {child.role} process was not ready within {timeout_seconds:.0f} s")
        time.sleep(0.1)
