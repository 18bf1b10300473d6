"""`trackhouse up` logs where Redis and the store are, never their passwords."""

from __future__ import annotations

from cli.up import startup_line
from shared.settings import Settings


def test_the_start_up_line_masks_passwords(settings: Settings) -> None:
    # The reported leak: the Redis and store URLs were logged with their passwords.
    redis_url = "redis://@127.0.0.1:6390/0?password=redis-secret"  # the query form
    configured = settings.model_copy(
        update={"redis_url": redis_url, "clickhouse_url": "chdb:///tmp/x?password=store-secret"}
    )
    line = startup_line(configured, redis_url)
    assert "redis-secret" not in line and "store-secret" not in line
    assert line.count("password=***") == 2
    userinfo = startup_line(configured, "redis://:redis-secret@10.0.0.1:6379/0")  # the userinfo form
    assert "redis-secret" not in userinfo
