"""`GET /t.js`: the size budget, caching and content type a site's script tag relies on."""

from __future__ import annotations

import gzip
from importlib import resources

from redis import Redis

from shared.settings import Settings
from tests.support.apps import api_client

BUDGET_BYTES = 2560


def test_the_tracker_fits_its_gzipped_budget(fake_redis: Redis) -> None:
    client = api_client(Settings(), fake_redis)
    response = client.get("/t.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    on_the_wire = int(response.headers["content-length"])
    assert on_the_wire <= BUDGET_BYTES, f"t.js is {on_the_wire} bytes gzipped; the budget is {BUDGET_BYTES}"
    source = resources.files("api.static").joinpath("t.js").read_bytes()
    assert response.content == source  # the client inflated what was sent: the file itself
    assert len(gzip.compress(source, compresslevel=9)) <= BUDGET_BYTES


def test_javascript_cached_and_revalidated_by_etag(fake_redis: Redis) -> None:
    client = api_client(Settings(), fake_redis)
    response = client.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert response.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in response.headers
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    again = client.get("/t.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/t.js", headers={"If-None-Match": '"other"'}).status_code == 200
