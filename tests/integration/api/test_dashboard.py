"""Dead letters are visible where ops look: rq-dashboard, over a real Redis.

Two ways it runs: standalone with `--json` (docker-compose), and mounted at /rq by
`trackhouse up --dashboard`, behind the admin token."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer  # stdlib json: what `rq-dashboard --json` uses

from api.lockout import MAX_FAILURES
from api.rq_dashboard import mount_dashboard
from shared.queue.redis_server import RedisServer
from shared.queue.serializer import OrjsonSerializer
from shared.settings import Settings
from tests.support.apps import api_client
from tests.support.builders import basic_event
from tests.support.workers import FailingWriter, drain, real_writer

pytestmark = pytest.mark.integration


def make_dead_letter(redis: Redis, migrated: Client, settings: Settings, event_id: str) -> None:
    api_client(settings, redis).post("/api/events/track", json=basic_event(event_id=event_id))
    drain(redis, settings, FailingWriter(real_writer(migrated, settings), failures=100))


def test_standalone_dashboard_shows_a_failed_job_with_its_reason(
    real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings
) -> None:
    from rq_dashboard import web
    from rq_dashboard.cli import make_flask_app

    make_dead_letter(real_redis, migrated, settings, "dead-1")
    app = make_flask_app(None, None, None, "")
    app.config["RQ_DASHBOARD_REDIS_URL"] = (redis_server.url,)  # a list of instances, as its CLI sets
    web.config.serializer = JSONSerializer
    client = app.test_client()
    [job] = client.get(f"/0/data/jobs/{settings.queue_name}/failed/10/asc/1.json").get_json()["jobs"]
    detail = client.get(f"/0/data/job/{job['id']}.json").get_json()
    assert detail["status"] == "failed"
    assert "injected store failure" in detail["exc_info"]
    assert detail["description"] == "insert 1 event(s)"  # readable JSON, not a pickle blob


def test_mounted_dashboard_needs_the_admin_token(
    real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings
) -> None:
    make_dead_letter(real_redis, migrated, settings, "dead-2")
    client = api_client(settings, real_redis, migrated)
    mount_dashboard(client.app, settings, redis_server.url)  # type: ignore[arg-type]
    listing = f"/rq/0/data/jobs/{settings.queue_name}/failed/10/asc/1.json"
    assert client.get(listing).status_code == 401
    wrong = base64.b64encode(b"admin:wrong").decode()
    assert client.get(listing, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"admin:test-admin-token").decode()
    response = client.get(listing, headers={"Authorization": f"Basic {right}"})
    assert response.status_code == 200
    [job] = response.json()["jobs"]
    detail = client.get(
        f"/rq/0/data/job/{job['id']}.json", headers={"Authorization": f"Basic {right}"}
    ).json()
    assert detail["description"] == "insert 1 event(s)" and "injected store failure" in detail["exc_info"]


def test_no_dashboard_without_an_admin_token(real_redis: Redis, settings: Settings) -> None:
    client = api_client(settings.model_copy(update={"admin_token": None}), real_redis)
    with pytest.raises(SystemExit, match="ADMIN_TOKEN"):
        mount_dashboard(client.app, settings.model_copy(update={"admin_token": None}), "unix:///nowhere")  # type: ignore[arg-type]


XSS = "<img src=x onerror=alert(document.domain)>"
RIGHT = {"Authorization": "Basic " + base64.b64encode(b"admin:test-admin-token").decode()}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.fixture
def dashboard(real_redis: Redis, redis_server: RedisServer, migrated: Client, settings: Settings) -> Any:
    client = api_client(settings, real_redis, migrated)
    mount_dashboard(client.app, settings, redis_server.url)  # type: ignore[arg-type]
    assert client.get("/rq/0/view/queues", headers=RIGHT).status_code == 200  # open, as in a browser
    return client


def test_an_event_id_with_markup_never_reaches_the_page_as_markup(
    dashboard: Any, real_redis: Redis, migrated: Client, settings: Settings
) -> None:
    # The reported stored XSS: the id went verbatim into the description, rendered unescaped.
    make_dead_letter(real_redis, migrated, settings, XSS)
    listing = dashboard.get(f"/rq/0/data/jobs/{settings.queue_name}/failed/10/asc/1.json", headers=RIGHT)
    [job] = listing.json()["jobs"]
    assert job["description"] == "insert 1 event(s)"
    detail = dashboard.get(f"/rq/0/data/job/{job['id']}.json", headers=RIGHT).json()
    assert detail["description"] == "insert 1 event(s)"
    # Everything the detail template prints unescaped arrives escaped: no markup survives.
    assert not any("<" in text for text in _strings(detail))
    assert XSS in str(Job.fetch(job["id"], connection=real_redis, serializer=OrjsonSerializer).args)  # the data is intact


def test_dashboard_pages_carry_a_csp_that_allows_only_their_own_script(dashboard: Any) -> None:
    page = dashboard.get("/rq/0/view/queues", headers=RIGHT)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src")).split()
    assert "'unsafe-inline'" not in script_src and "'unsafe-hashes'" not in script_src
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    inline = re.findall(r'<script type="text/javascript">(.*?)</script>', page.text, re.S)
    assert inline  # the page's own script, allowed by its hash and nothing else
    allowed = {s for s in script_src if s.startswith("'sha256-")}
    assert allowed == {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/queue/{q}/queued/empty", {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),
        ("POST", "/queue/{q}/queued/empty", {"Origin": "https://evil.example"}),  # an older browser
        ("POST", "/queue/{q}/queued/empty", {}),
        ("GET", "/requeue/{q}", {"Sec-Fetch-Site": "cross-site"}),  # a link or an <img>
    ],
)
def test_cross_site_requests_cannot_change_the_queue(
    dashboard: Any, real_redis: Redis, settings: Settings, method: str, path: str, headers: dict[str, str]
) -> None:
    # The reported CSRF: a cross-site form POST with the operator's basic auth emptied the queue.
    dashboard.post("/api/events/track", json=basic_event(event_id="keep-1"))
    url = "/rq" + path.format(q=settings.queue_name)
    response = dashboard.request(method, url, headers={**RIGHT, **headers})
    assert response.status_code == 403
    assert Queue(settings.queue_name, connection=real_redis, serializer=OrjsonSerializer).count == 1


def test_the_dashboard_itself_can_still_empty_a_queue(
    dashboard: Any, real_redis: Redis, settings: Settings
) -> None:
    dashboard.post("/api/events/track", json=basic_event(event_id="gone-1"))
    url = f"/rq/queue/{settings.queue_name}/queued/empty"
    for same in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://testserver"}):
        response = dashboard.post(url, headers={**RIGHT, **same})
        assert response.status_code == 200 and response.json() == {"status": "OK"}
    assert Queue(settings.queue_name, connection=real_redis, serializer=OrjsonSerializer).count == 0


def test_failed_dashboard_logins_are_throttled(dashboard: Any, settings: Settings) -> None:
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:guess").decode()}
    codes = [dashboard.get("/rq/0/view/queues", headers=wrong).status_code for _ in range(MAX_FAILURES + 1)]
    assert codes == [401] * MAX_FAILURES + [429]
    assert dashboard.get("/rq/0/view/queues", headers=RIGHT).status_code == 429
