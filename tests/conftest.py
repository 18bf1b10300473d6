"""Shared fixtures. Real parts: one redis-server and one chDB engine per test session.

chDB allows one engine per process, so the session opens one data directory and each
test gets its own database in it; Redis is flushed between tests.

The fixtures that start a real server are declared with `server_fixture`: a test using one
without its marker fails before anything starts (tests.support.markers).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import fakeredis
import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis

from shared.queue.connect import connect_redis
from shared.queue.redis_server import RedisServer
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
from tests.support import markers
from tests.support.audit import WRITE_SETTINGS, freeze_merges
from tests.support.markers import server_fixture


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    markers.set_current(item)  # for helpers that start servers without a fixture (markers.require)
    try:
        return (yield)
    finally:
        markers.set_current(None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture starts: a test using a server fixture carries its marker."""
    markers.check_fixtures(item)


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    # Short path: unix sockets must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="th-") as path:
        yield Path(path)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory with a short path (for unix sockets), removed after the test."""
    with tempfile.TemporaryDirectory(prefix="th-") as path:
        yield Path(path)


@server_fixture("integration", scope="session")
def redis_server(session_dir: Path) -> Iterator[RedisServer]:
    with RedisServer(session_dir / "redis") as server:
        yield server


@pytest.fixture
def real_redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = connect_redis(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def fake_redis() -> Redis:
    return fakeredis.FakeRedis()


@pytest.fixture(scope="session")
def chdb_url(session_dir: Path) -> str:
    return f"chdb://{session_dir / 'clickhouse'}"


@server_fixture("integration", scope="session")
def store(chdb_url: str) -> Client:
    return open_client(chdb_url, **WRITE_SETTINGS)  # duplicates within an insert stay visible


@pytest.fixture
def settings(session_dir: Path, chdb_url: str) -> Settings:
    """Settings for one test: its own database (Redis is flushed per test); fast retries."""
    return Settings(
        data_dir=session_dir,
        clickhouse_url=chdb_url,
        clickhouse_database=f"t_{uuid.uuid4().hex[:12]}",
        admin_token="test-admin-token",
        retry_intervals_seconds=[0, 0],
        insert_linger_ms=0,  # tests that need it set it
    )


@pytest.fixture
def migrated(store: Client, settings: Settings) -> Iterator[Client]:
    """The test's database, migrated, its events table frozen (no merges: counts see every insert)."""
    migrate(store, settings.clickhouse_database)
    freeze_merges(store, settings.clickhouse_database)
    yield store
    store.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
