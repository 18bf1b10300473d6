"""The children of a running `trackhouse up`, found by role from /proc (parent pid and command
line), for the tests and the chaos run that kill one of them."""

from __future__ import annotations

import contextlib
from pathlib import Path

ROLES = {b"cli\0store": "store", b"cli\0api": "api", b"redis-server": "redis"}
"""A mark in the child's command line (NUL-separated arguments) -> its role."""


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_of(pid: int) -> dict[str, int]:
    """The supervisor's live children by role, from their command lines."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = _stat_fields(entry.name)[:2]
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == pid and state != "Z":
            found.update({role: int(entry.name) for mark, role in ROLES.items() if mark in cmdline})
    return found


def threads_of(pid: int) -> dict[str, list[int]]:
    """A process's threads by name (e.g. chDB's "MergeMutate" pool, Python's "python")."""
    found: dict[str, list[int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # ended meanwhile
            found.setdefault((task / "comm").read_text().strip(), []).append(int(task.name))
    return found


def nice_of(pid: int, thread: int | None = None) -> int:
    """The nice value of a process (its main thread) or of one of its threads."""
    path = f"{pid}/task/{thread}" if thread is not None else str(pid)
    return int(_stat_fields(path)[16])  # field 19 of stat(5); _stat_fields starts at field 3


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (the API's own worker processes included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(entry.name)[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def gone(pid: int) -> bool:
    """Whether `pid` has exited (no process, or a zombie its parent has not reaped)."""
    try:
        return _stat_fields(pid)[0] == "Z"
    except (OSError, IndexError):
        return True
