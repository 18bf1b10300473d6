"""`trackhouse up` logs where Redis and the store are, never their passwords."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import cli.up
from shared.queue.redis_server import RedisServer, free_port
from shared.settings import Settings

pytestmark = pytest.mark.integration


def test_the_start_up_log_masks_passwords(
    short_dir: Path, settings: Settings, chdb_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reported leak: the Redis and store URLs were logged with their passwords.
    with RedisServer(short_dir / "r", port=free_port()) as server:
        password = server.url.split(":")[2].split("@")[0]
        url = server.url.replace(f":{password}@", "@") + f"?password={password}"  # the query form
        monkeypatch.setattr(cli.up, "serve", lambda app, settings: None)  # start up, then return at once
        store_url = f"{chdb_url}?password=store-secret"
        configured = settings.model_copy(update={"redis_url": url, "clickhouse_url": store_url})
        with caplog.at_level(logging.INFO, logger="cli.up"):
            cli.up.run_embedded(configured)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("trackhouse up:"))
    assert password not in line and "store-secret" not in line
    assert line.count("password=***") == 2
