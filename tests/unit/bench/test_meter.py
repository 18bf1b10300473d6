"""The bench's meter attributes each process under a contender's root to a role by its command
line, and counts children that start, or are restarted, while it runs (a supervisor's)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.meter import PipelineMeter, pipeline, role_of

PY = sys.executable
BURN = 0.1
"""CPU seconds each child burns (its own CPU clock, not wall time)."""

# Burns BURN s of CPU, reports its CPU clock, waits to be told to exit.
WORKER = f"""
import sys, time
while time.process_time() < {BURN}:
    pass
print(time.process_time(), flush=True)
sys.stdin.readline()
"""
# A store child: starts a helper whose command line names no role (as uvicorn's spawned
# processes), burns as much itself, and reports both CPU clocks together.
CHILD = f"""
import subprocess, sys, time
helper = subprocess.Popen([sys.executable, "-c", {WORKER!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
while time.process_time() < {BURN}:
    pass
print(time.process_time() + float(helper.stdout.readline()), flush=True)
sys.stdin.readline()
helper.stdin.close(); helper.wait()
"""
# A supervisor: on each "start" line, ends the previous child and starts one from a thread that
# stays alive (a monitor thread: Linux lists the child under that thread, not the main one),
# then relays the child's report.
PARENT = f"""
import subprocess, sys, threading
child, done = None, threading.Event()
for line in sys.stdin:
    if child is not None:
        child.stdin.close(); child.wait()
    if line.strip() != "start":
        break
    started = threading.Event()
    def monitor():
        global child
        child = subprocess.Popen([sys.executable, "-c", {CHILD!r}, "-m", "cli", "store"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.set()
        done.wait()
    threading.Thread(target=monitor, daemon=True).start()
    started.wait()
    print(child.stdout.readline().strip(), flush=True)
done.set()
"""


def test_roles_from_the_command_lines_the_pipeline_runs() -> None:
    assert role_of(["/usr/bin/redis-server 127.0.0.1:6379"]) == "redis"  # its rewritten title
    assert role_of(["/venv/bin/redis-server", "--port", "0"]) == "redis"
    assert role_of([PY, "-m", "cli", "up"]) == "supervisor"
    assert role_of([PY, "/venv/bin/trackhouse", "up", "--dashboard"]) == "supervisor"
    assert role_of([PY, "-m", "cli", "store"]) == "store"
    assert role_of([PY, "-m", "cli", "api", "--processes", "2"]) == "api"
    assert role_of([PY, "-m", "cli", "worker"]) == "worker"
    # uvicorn's spawned API processes name no role: they take their parent's.
    spawned = [PY, "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)", "--multiprocessing-fork"]
    assert role_of(spawned) is None
    assert role_of([PY, "-m", "uvicorn", "bench.bare_app:app"]) is None
    assert role_of([]) is None  # a zombie's


def test_children_started_and_restarted_mid_phase_count_under_their_role_with_their_own_children() -> None:
    parent = subprocess.Popen(
        [PY, "-c", PARENT, "-m", "cli", "up"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdin is not None and parent.stdout is not None
    reported = []
    try:
        with PipelineMeter({"supervisor": parent.pid}) as meter:
            for _ in range(2):  # the second replaces the first: a restart
                parent.stdin.write("start\n")
                parent.stdin.flush()
                reported.append(float(parent.stdout.readline()))
                meter.lap()  # the child has reported and waits: this sample sees all it used
        parent.stdin.write("stop\n")
        parent.stdin.flush()
    finally:
        parent.stdin.close()
        parent.wait(timeout=30)

    tick = 1 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU in ticks
    # Each store child and its helper: the helper counts as store too, like its parent.
    assert meter.processes == {"supervisor": 1, "store": 4}
    assert meter.used["store"] >= sum(reported) - 4 * 2 * tick
    assert meter.used["supervisor"] < meter.used["store"]  # the children's CPU is not the parent's
    assert meter.rss_peak["store"] > 0 and meter.rss_peak["supervisor"] > 0
    assert set(pipeline(meter.used)) == {"supervisor", "store"}  # wrk's share left out
