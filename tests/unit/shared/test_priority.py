"""The storing processes' CPU priority (shared.priority), in a child process: nice cannot be
lowered again without privileges, so the test process itself is left alone."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import os, threading
from shared.priority import yield_cpu_to_ingestion
yield_cpu_to_ingestion(7)
yield_cpu_to_ingestion(3)  # never lowered
seen = []
thread = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
thread.start(); thread.join()
print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])
"""


def test_the_process_and_every_thread_it_starts_run_at_the_nice_value_asked_for() -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7", "7"]
