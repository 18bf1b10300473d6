"""The admin token: long enough to be unguessable, and guesses throttled per client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from redis import Redis

from api.lockout import MAX_FAILURES, WINDOW_SECONDS, Lockout
from shared.settings import MIN_ADMIN_TOKEN_CHARS, Settings
from tests.support.apps import api_client

READ = "/api/events/x"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_short_admin_token_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match=f"at least {MIN_ADMIN_TOKEN_CHARS} characters") as raised:
        Settings(admin_token=SecretStr("hunter2"))
    assert "hunter2" not in str(raised.value)  # the secret is not echoed in the error
    assert Settings(admin_token=SecretStr("x" * MIN_ADMIN_TOKEN_CHARS)).admin_token is not None


def test_failed_attempts_are_throttled_per_client(settings: Settings, fake_redis: Redis) -> None:
    # The reported gap: wrong tokens could be tried at request speed.
    guesser = api_client(settings, fake_redis)
    clock = Clock()
    guesser.app.state.trackhouse.admin_lockout = Lockout(clock)  # type: ignore[attr-defined]
    wrong, right = {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer test-admin-token"}
    codes = [guesser.get(READ, headers=wrong).status_code for _ in range(MAX_FAILURES + 2)]
    assert codes == [401] * MAX_FAILURES + [429] * 2
    refused = guesser.get(READ, headers=right)  # locked out: not even the right token is compared
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert list(refused.json()) == ["error"]
    other = TestClient(guesser.app, client=("198.51.100.20", 1), raise_server_exceptions=False)
    assert other.get(READ, headers=right).status_code != 429  # another client is not locked out
    clock.now += WINDOW_SECONDS
    # No credentials at all is no guess (a browser's first request, before the challenge).
    assert [guesser.get(READ).status_code for _ in range(MAX_FAILURES + 1)] == [401] * (MAX_FAILURES + 1)
    assert guesser.get(READ, headers=right).status_code != 429  # the window passed
