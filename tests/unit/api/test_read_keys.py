"""Who may read (api/read_keys.py): the admin token sees every project, a read key its own;
anything else, a prefix or an extension of either included, is no credential at all."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis import Redis
from starlette.requests import Request

from api.read_keys import ReadKeys, ReadScope
from shared.settings import Settings
from tests.support.apps import api_client

ADMIN = "a-long-admin-token-for-read-keys"
KEYS = {"rk-alpha-0123456789": "p-alpha", "rk-beta-9876543210": "p-beta"}


def keys(admin: str | None = ADMIN, read_keys: dict[str, str] | None = None) -> ReadKeys:
    return ReadKeys(KEYS if read_keys is None else read_keys, SecretStr(admin) if admin else None)


def request(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode("latin-1"))]
    return Request({"type": "http", "method": "POST", "path": "/api/query", "headers": headers})


def test_the_admin_token_sees_every_project() -> None:
    assert keys().scope(f"Bearer {ADMIN}") == ReadScope()
    assert keys().scope(f"bearer {ADMIN}") == ReadScope()  # the scheme is case-insensitive
    assert keys().scope(f"Bearer  {ADMIN} ") == ReadScope()  # spaces around the token


def test_a_read_key_sees_its_own_project() -> None:
    for key, project in KEYS.items():
        assert keys().scope(f"Bearer {key}") == ReadScope.of_project(project)
    assert keys(admin=None).scope(f"Bearer {next(iter(KEYS))}") == ReadScope.of_project("p-alpha")


def _near_misses(secret: str) -> list[str]:
    prefixes = [secret[:n] for n in (1, 2, len(secret) // 2, len(secret) - 1)]
    return [*prefixes, secret + "x", secret[1:], secret.upper(), secret[:-1] + chr(ord(secret[-1]) ^ 1)]


@pytest.mark.parametrize("secret", [ADMIN, *KEYS], ids=["admin", *KEYS])
def test_a_prefix_or_near_miss_of_a_credential_is_none(secret: str) -> None:
    readers = keys()
    assert readers.scope("Bearer a") is None
    for guess in _near_misses(secret):
        assert readers.scope(f"Bearer {guess}") is None, guess


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Bearer    ", f"Basic {ADMIN}", f"Token {ADMIN}", ADMIN, f"Bearer{ADMIN}"],
)
def test_no_bearer_token_is_no_credential(authorization: str) -> None:
    assert keys().scope(authorization) is None


def test_without_an_admin_token_no_token_is_the_admin() -> None:
    readers = keys(admin=None)
    assert readers.scope(f"Bearer {ADMIN}") is None
    assert readers.scope("Bearer ") is None


def test_authorize_refuses_with_401_or_403() -> None:
    with pytest.raises(HTTPException) as disabled:
        keys(admin=None, read_keys={}).authorize(request(f"Bearer {ADMIN}"))
    assert disabled.value.status_code == 403
    for authorization in (None, "Bearer a", f"Bearer {ADMIN[:-1]}", f"Basic {ADMIN}"):
        with pytest.raises(HTTPException) as refused:
            keys().authorize(request(authorization))
        assert refused.value.status_code == 401
        assert refused.value.headers == {"WWW-Authenticate": "Bearer"}
    assert keys().authorize(request(f"Bearer {ADMIN}")) == ReadScope()
    assert keys().authorize(request("Bearer rk-beta-9876543210")) == ReadScope.of_project("p-beta")


def test_the_digests_are_keyed_per_instance() -> None:
    # A digest learnt from one process tells nothing about another's (a random key each).
    one, two = keys(), keys()
    assert one._digest(b"rk-alpha-0123456789") != two._digest(b"rk-alpha-0123456789")


@pytest.mark.parametrize("path", ["/api/query", "/api/export"])
def test_the_read_endpoints_answer_a_prefix_of_the_admin_token_with_401(
    settings: Settings, fake_redis: Redis, path: str
) -> None:
    app_settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN), "read_keys": KEYS})
    client: TestClient = api_client(app_settings, fake_redis)
    body = {"metrics": ["events"]} if path == "/api/query" else {}
    for guess in ("a", ADMIN[:8], ADMIN[:-1], "rk-alpha"):
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {guess}"})
        assert response.status_code == 401, guess
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # The right token gets past the check (there is no store in this test: not a 401 either way).
    right = client.post(path, json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert right.status_code not in (401, 403, 429)


def test_the_admin_only_endpoints_answer_a_prefix_of_the_admin_token_with_401(
    settings: Settings, fake_redis: Redis
) -> None:
    # GET /api/events/{id} and /metrics check the admin token on their own (api/auth.py).
    client = api_client(settings.model_copy(update={"admin_token": SecretStr(ADMIN)}), fake_redis)
    for path in ("/api/events/some-id", "/metrics"):
        for guess in ("a", ADMIN[:-1]):
            response = client.get(path, headers={"Authorization": f"Bearer {guess}"})
            assert response.status_code == 401, (path, guess)
        assert client.get(path, headers={"Authorization": f"Bearer {ADMIN}"}).status_code not in (401, 403)
