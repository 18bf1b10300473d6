"""CPU priority of the processes that store events: ingestion first, storage when it is idle."""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)


def yield_cpu_to_ingestion(nice: int) -> None:
    """Raise this process's nice value to `nice` (never lower it). Call it first thing, before
    any thread starts: Linux keeps a nice value per thread, and threads inherit it when created
    (chDB's insert and merge pools, the worker threads), so they all run at it."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice <= current:
        return
    with contextlib.suppress(OSError):  # a sandbox may refuse it: run at the current priority
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        log.debug("storing at nice %d", nice)
