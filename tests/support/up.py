"""`trackhouse up` (what `make run` starts) as a real process for the tests and the chaos run:
started on a data directory with a free port, ready once /readyz answers 200 (the store process
answers through the API), stopped with SIGTERM, and nothing of it left running afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support import markers
from tests.support.processes import child_port, http, trackhouse, wait_for
from tests.support.supervised import descendants, gone

START_SECONDS = 120.0
"""A cold start (chDB, migrations, the API's processes) on a loaded two-core machine."""
STOP_SECONDS = 120.0
"""The supervisor's own bounds on a stop: 35 s for the API, the job timeout + 15 s for the store."""


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    """Its TRACKHOUSE_ settings, the data directory and the port included (for a CLI beside it)."""
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env['TRACKHOUSE_PORT']}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout_seconds: float = START_SECONDS) -> None:
        """Until /readyz answers 200; fails at once, with its log, if it exited."""

        def ready() -> bool:
            if self.process.poll() is not None:
                status = self.process.returncode
                raise AssertionError(f"trackhouse up exited ({status}); {self.log}:\n{self.log_tail()}")
            return http("GET", f"{self.base}/readyz")[0] == 200

        wait_for(ready, timeout_seconds=timeout_seconds, what=f"trackhouse up to be ready; see {self.log}")

    def stop(self, timeout_seconds: float = STOP_SECONDS) -> int:
        """SIGTERM, and its exit status once it has stopped (its own children first)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_seconds)


def start_up(data_dir: Path, env: Mapping[str, str] | None = None, *, log_name: str = "up.log") -> Up:
    """Start `trackhouse up` on `data_dir` (on a free port unless `env` names one); not waited for."""
    markers.require("`trackhouse up`", "integration")
    settings = {"TRACKHOUSE_DATA_DIR": str(data_dir), **(env or {})}
    settings.setdefault("TRACKHOUSE_PORT", str(child_port()))
    log = data_dir / log_name
    return Up(trackhouse(["up"], settings, log), settings, log)


@contextlib.contextmanager
def running_up(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    log_name: str = "up.log",
    ready_seconds: float = START_SECONDS,
) -> Iterator[Up]:
    """`trackhouse up` on `data_dir`, ready. Afterwards it is stopped (SIGTERM; SIGKILL if it
    outlives STOP_SECONDS) unless the test stopped or killed it, and every process it had
    started that still runs (a restarted child, the API's workers) is SIGKILLed."""
    up = start_up(data_dir, env, log_name=log_name)
    try:
        up.wait_ready(ready_seconds)
        yield up
    finally:
        below = descendants(up.process.pid)  # before it exits: its orphans would lose their parent
        try:
            up.stop()
        except subprocess.TimeoutExpired:
            up.process.kill()
            up.process.wait()
        for pid in below:
            if not gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
