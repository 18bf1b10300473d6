"""What the pipeline's processes cost while a phase runs: CPU seconds and peak RSS per role.

A contender is given as root pids with a role each (`api`, `worker`, `redis`, or the
`trackhouse up` process as `supervisor`). Their descendants are found in /proc and each is
given a role by its command line (redis-server → redis, `cli store` → store, `cli api` → api,
`cli worker` → worker, `cli up` → supervisor), else its parent's: uvicorn's spawned API
processes count as api, whatever starts them. The tree is walked every `interval` seconds in
a thread, so a child that starts (or is restarted) mid-phase is counted from zero, and one
that exits keeps what it had used at its last sample (at most one interval of its CPU is
missed). Load generators the harness runs and reaps (wrk) are counted apart, as `wrk`.
"""

from __future__ import annotations

import os
import resource
import threading
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_COMMAND_ROLES = {"up": "supervisor", "store": "store", "api": "api", "worker": "worker"}
ROLE_ORDER = ("supervisor", "api", "store", "worker", "redis", "replica")
LOAD_ROLE = "wrk"


@dataclass(frozen=True)
class Sample:
    """One process as /proc shows it now."""

    pid: int
    started: int
    """Start time in clock ticks since boot: with the pid, tells a restarted child from its predecessor."""
    cpu_seconds: float
    """Its own user + system time (not its reaped children's)."""
    rss_bytes: int
    cmdline: list[str]


def read_process(pid: int) -> Sample | None:
    """None when the process is gone. A zombie (exited, not reaped yet) still shows its final
    CPU time, with no memory and no command line."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime 14, stime 15, starttime 22 (proc(5)).
    return Sample(
        pid=pid,
        started=int(stat[19]),
        cpu_seconds=(int(stat[11]) + int(stat[12])) / _TICK,
        rss_bytes=int(statm[1]) * _PAGE,
        cmdline=[part.decode(errors="replace") for part in raw.split(b"\0") if part],
    )


def children(pid: int) -> list[int]:
    """Direct children of `pid`, whichever of its threads started them (Linux lists a child
    under the thread that forked it: a supervisor may start children from a monitor thread)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread (or the process) ended meanwhile
            continue
    return found


def role_of(cmdline: list[str]) -> str | None:
    """The pipeline role a command line names, or None (the process takes its parent's role)."""
    if not cmdline:
        return None
    # redis-server rewrites its title to one string: "/usr/bin/redis-server 127.0.0.1:0".
    if Path(cmdline[0].split(" ", 1)[0]).name.startswith("redis-server"):
        return "redis"
    for index, arg in enumerate(cmdline[:-1]):
        if arg == "-m" and index + 2 < len(cmdline) and cmdline[index + 1] in ("cli", "cli.main"):
            return _COMMAND_ROLES.get(cmdline[index + 2])
        if Path(arg).name == "trackhouse":  # the console script: `python …/bin/trackhouse up`
            return _COMMAND_ROLES.get(cmdline[index + 1])
    return None


def walk(roots: dict[str, int]) -> list[tuple[str, Sample]]:
    """Every live process under the roots, with its role."""
    found: list[tuple[str, Sample]] = []
    pending = [(role, pid) for role, pid in roots.items()]
    seen: set[int] = set()
    while pending:
        inherited, pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        sample = read_process(pid)
        if sample is None:
            continue
        # A root keeps the role it was given; a descendant names its own when it can.
        role = inherited if pid in roots.values() else (role_of(sample.cmdline) or inherited)
        found.append((role, sample))
        pending += [(role, child) for child in children(pid)]
    return found


def _reaped_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ordered(by_role: dict[str, float]) -> list[tuple[str, float]]:
    rank = {role: i for i, role in enumerate((*ROLE_ORDER, LOAD_ROLE))}
    return sorted(by_role.items(), key=lambda item: (rank.get(item[0], len(ROLE_ORDER)), item[0]))


class PipelineMeter:
    """CPU seconds and peak RSS per role between `__enter__` and `__exit__` (or a `lap()`)."""

    def __init__(self, roots: dict[str, int | None], interval: float = 0.1) -> None:
        self._roots = {role: pid for role, pid in roots.items() if pid is not None}
        self._interval = interval
        self._lock = threading.Lock()
        self._baseline: dict[tuple[int, int], float] = {}
        self._last: dict[tuple[int, int], tuple[str, float]] = {}
        self._reaped_at_start = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline-meter", daemon=True)
        self.rss_peak: dict[str, int] = {}
        """Per role: the highest sum of its processes' RSS seen in one sample."""
        self.processes: dict[str, int] = {}
        """Per role: how many distinct processes were seen (a restart adds one)."""
        self.used: dict[str, float] = {}
        """CPU seconds per role over the whole block (with `wrk`), set on exit."""

    def _sample(self, *, first: bool = False) -> None:
        found = walk(self._roots)
        rss: dict[str, int] = {}
        with self._lock:
            for role, sample in found:
                key = (sample.pid, sample.started)
                if key not in self._baseline:
                    # Present at the start: only what it uses from now on. Appeared later: all of it.
                    self._baseline[key] = sample.cpu_seconds if first else 0.0
                    self.processes[role] = self.processes.get(role, 0) + 1
                self._last[key] = (role, sample.cpu_seconds)
                rss[role] = rss.get(role, 0) + sample.rss_bytes
            for role, size in rss.items():
                self.rss_peak[role] = max(self.rss_peak.get(role, 0), size)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> PipelineMeter:
        self._reaped_at_start = _reaped_cpu()
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.used = self.lap()

    def lap(self) -> dict[str, float]:
        """CPU seconds per role so far (a fresh sample), plus `wrk`: what the harness's reaped
        children (the load generator) used since the start."""
        self._sample()
        with self._lock:
            used: dict[str, float] = {}
            for key, (role, seconds) in self._last.items():
                used[role] = used.get(role, 0.0) + seconds - self._baseline[key]
        used[LOAD_ROLE] = _reaped_cpu() - self._reaped_at_start
        return used


def pipeline(used: dict[str, float]) -> dict[str, float]:
    """The pipeline's roles only (what the harness's load generator used left out)."""
    return {role: seconds for role, seconds in used.items() if role != LOAD_ROLE}


def percent_of_core(used: dict[str, float], seconds: float) -> str:
    return ", ".join(f"{role} {s / seconds * 100:.0f}%" for role, s in ordered(used))


def per_thousand(used: dict[str, float], events: int) -> str:
    """CPU milliseconds per 1,000 events, per role: "api 61.0 ms, redis 4.2 ms"."""
    return ", ".join(f"{role} {s * 1e6 / events:,.1f} ms" for role, s in ordered(used))


def mib(rss: dict[str, int], processes: dict[str, int]) -> str:
    parts = []
    for role, size in ordered({r: float(v) for r, v in rss.items()}):
        count = processes.get(role, 1)
        parts.append(f"{role} {size / 2**20:,.0f} MiB" + (f" ({count} processes)" if count > 1 else ""))
    return ", ".join(parts)
