"""Loaded by `python -m bench.tail` into the API process (PYTHONPATH=bench/probe): records what
can hold a request beyond its own work, so the p99 tail is attributed, not guessed.
- GC: every collection's start, generation and pause (gc.callbacks);
- the event loop: when a 1 ms sleep began and how late it woke (a stall holds every request);
- the enqueue thread: each group commit's duration and size.
Active only when BENCH_PROBE_OUT names the output file, and only in a process serving TCP
(the store process's read server on a unix socket is left alone). Written at exit as JSON."""

from __future__ import annotations

import os

if os.environ.get("BENCH_PROBE_OUT"):
    import asyncio
    import atexit
    import gc
    import json
    import time
    from typing import Any

    _out = os.environ["BENCH_PROBE_OUT"]
    _gc: list[tuple[float, int, float]] = []
    _lag: list[tuple[float, float]] = []
    _enqueue: list[tuple[float, int]] = []
    _gc_started = 0.0
    _active = False

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        global _gc_started
        if not _active:
            return
        if phase == "start":
            _gc_started = time.perf_counter()
        else:
            _gc.append((_gc_started, int(info["generation"]), time.perf_counter() - _gc_started))

    gc.callbacks.append(_on_gc)

    async def _watch_loop() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            _lag.append((started, time.perf_counter() - started - 0.001))

    def _dump() -> None:
        if _active:
            with open(f"{_out}.{os.getpid()}", "w") as out:
                json.dump({"gc": _gc, "lag": _lag, "enqueue": _enqueue}, out)

    def _patch() -> None:
        import uvicorn.server

        from api.group_commit import GroupCommitter

        serve = uvicorn.server.Server.serve
        enqueue = GroupCommitter._enqueue_acknowledged

        async def probed_serve(self: Any, sockets: Any = None) -> None:
            global _active
            if self.config.uds is None:  # the API, not the store process's read socket
                _active = True
                atexit.register(_dump)
                task = asyncio.get_running_loop().create_task(_watch_loop())
                try:
                    await serve(self, sockets)
                finally:
                    task.cancel()
                return
            await serve(self, sockets)

        def probed_enqueue(self: Any, rows: list[dict[str, Any]]) -> None:
            started = time.perf_counter()
            enqueue(self, rows)
            _enqueue.append((time.perf_counter() - started, len(rows)))

        uvicorn.server.Server.serve = probed_serve  # type: ignore[method-assign]
        GroupCommitter._enqueue_acknowledged = probed_enqueue  # type: ignore[method-assign]

    _patch()
