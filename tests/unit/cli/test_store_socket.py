"""The store process's read socket is reachable by the service's user only: it lives in a 0700
directory (uvicorn makes the socket file itself world-writable), also when the data directory
is too deep for a unix socket path."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from shared.store_process.socket_server import prepare_socket, run_dir_for, socket_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_socket_directory_is_private(tmp_path: Path) -> None:
    run_dir = run_dir_for(tmp_path / "data")
    assert run_dir == (tmp_path / "data" / "run").resolve() and _mode(run_dir) == 0o700


def test_a_data_directory_too_deep_for_a_socket_gets_a_private_one_elsewhere(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    run_dir = run_dir_for(deep)
    try:
        assert len(str(socket_path(run_dir))) < 108 and _mode(run_dir) == 0o700
    finally:
        shutil.rmtree(run_dir)


def test_a_socket_left_by_a_dead_process_is_removed(tmp_path: Path) -> None:
    path = socket_path(run_dir_for(tmp_path))
    path.write_text("stale")
    assert prepare_socket(path.parent) == path and not path.exists()
