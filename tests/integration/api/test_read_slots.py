"""One read-key holder cannot block every read: exports have a pool of their own, a tenant
holds at most its share, a stalled or endless export is cut off and its slot freed, and
/readyz takes no read slot. Replayed against a real uvicorn server, chDB and Redis: two exports
opened with project A's key and never read."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from redis import Redis

from api.app import create_app
from shared.queue.redis_server import free_port
from shared.settings import Settings
from shared.store.client import open_client
from shared.store.migrate import migrate
from tests.support.processes import http, wait_for

pytestmark = pytest.mark.integration
ROWS = 20_000  # ~20 MB of CSV: far more than loopback's socket buffers hold
KEY_A, KEY_B, ADMIN = "rk-a-123", "rk-b-456", "admin-token-for-tests"


@dataclass
class Served:
    base: str
    port: int


@pytest.fixture(scope="module")
def served(store: Client, chdb_url: str, redis_server: object) -> Iterator[Served]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(store, database)
    store.command(
        f"INSERT INTO {database}.events (event_id, event_type, event_time, received_at, project_id, link_title) "
        f"SELECT toString(number), 'view', toDateTime64('2026-11-03 12:00:00', 3, 'UTC'), now64(3), 'pA', "
        f"repeat('x', 1000) FROM numbers({ROWS})"
    )
    store.command(
        f"INSERT INTO {database}.events (event_id, event_type, event_time, received_at, project_id) "
        "VALUES ('b1', 'view', toDateTime64('2026-11-03 12:00:00', 3, 'UTC'), now64(3), 'pB')"
    )
    settings = Settings(
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        admin_token=ADMIN,
        read_keys={KEY_A: "pA", KEY_B: "pB"},
        backpressure_check_interval_ms=0,
        query_wait_seconds=1,
        export_idle_timeout_seconds=1.5,
        export_timeout_seconds=6,
    )
    redis = Redis.from_url(redis_server.url)  # type: ignore[attr-defined]
    app = create_app(settings, redis=redis, open_store=lambda: open_client(chdb_url))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: http("GET", f"{base}/healthz")[0] == 200 or None, timeout_seconds=20, what="the API")
    yield Served(base, port)
    server.should_exit = True
    thread.join(timeout=10)
    store.command(f"DROP DATABASE IF EXISTS {database}")


EXPORT = {"format": "csv", "date_range": ["2026-11-01", "2026-11-30"]}
QUERY = {"metrics": ["events"], "date_range": ["2026-11-01", "2026-11-30"]}


def _open_export(served: Served, key: str, *, small_buffer: bool = True) -> socket.socket:
    """An export request whose client has read its status line."""
    sock = socket.socket()
    if small_buffer:  # a client that stops reading blocks the server's writes sooner
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", served.port))
    body = orjson.dumps(EXPORT)
    sock.sendall(
        b"POST /api/export HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    sock.settimeout(10)
    assert sock.recv(12).startswith(b"HTTP/1.1 200")
    return sock


def _drain(sock: socket.socket, pause: float = 0.0, limit_seconds: float = 45) -> tuple[int, bool, bool]:
    """Bytes read, whether the chunked body was complete, and whether the server closed the
    connection (rather than the reader giving up at `limit_seconds`)."""
    received, tail = 0, b""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return received, False, True
        received += len(chunk)
        tail = (tail + chunk)[-16:]
        if tail.endswith(b"\r\n0\r\n\r\n"):
            return received, True, True
        if pause:
            time.sleep(pause)
    return received, False, False


def _post(served: Served, path: str, body: object, key: str) -> int:
    return http("POST", f"{served.base}{path}", body, {"Authorization": f"Bearer {key}"})[0]


def test_stalled_exports_of_one_key_block_no_other_read(served: Served) -> None:
    stalled = [_open_export(served, KEY_A)]
    try:
        assert _post(served, "/api/export", EXPORT, KEY_A) == 429  # A's export share is taken
        assert _post(served, "/api/query", QUERY, KEY_B) == 200  # B's query: its own pool
        assert _post(served, "/api/query", QUERY, ADMIN) == 200
        assert http("GET", f"{served.base}/api/events/b1", None, {"Authorization": f"Bearer {ADMIN}"})[0] == 200
        assert http("GET", f"{served.base}/readyz")[0] == 200
        assert _post(served, "/api/query", QUERY, KEY_A) == 200  # A's queries are not its exports

        # The client that stopped reading is cut off after the idle timeout: an incomplete body.
        time.sleep(3)
        received, complete, closed = _drain(stalled[0])
        assert closed and not complete and received < ROWS * 1000
    finally:
        for sock in stalled:
            sock.close()
    # ...and its slot is free again: A's next export streams whole.
    request = urllib.request.Request(
        f"{served.base}/api/export",
        data=orjson.dumps(EXPORT),
        headers={"Authorization": f"Bearer {KEY_A}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and response.read().count(b"\n") == ROWS + 1  # header + rows


def test_an_export_read_slowly_is_cut_off_at_its_deadline(served: Served) -> None:
    sock = _open_export(served, KEY_A, small_buffer=False)
    try:
        # Read steadily, never idle, but slowly: at most 64 KiB every 0.1 s, over 30 s for the
        # whole export. Cut at the 6 s deadline, the server closes the connection mid-body.
        received, complete, closed = _drain(sock, pause=0.1)
    finally:
        sock.close()
    assert closed and not complete and received < ROWS * 1000
    wait_for(lambda: _post(served, "/api/query", QUERY, KEY_A) == 200 or None, timeout_seconds=10, what="a read")
