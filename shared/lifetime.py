"""Processes that must not outlive their parent: a redis-server or a store process left behind
by a crashed owner would hold the data directory's lock (or the port) against its successor."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


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
