"""Real-browser tests: Debian's Chromium driven by Playwright, against a real `trackhouse up`
(a redis-server child, chDB, worker threads) and a test site on another origin.

Everything stays on 127.0.0.1: Chromium resolves no host name and sends everything else to a
closed proxy port, so a page that tried to reach the internet would fail visibly (and the
tests record every request to prove none tried). Each test is bounded by pytest-timeout and
Playwright's own timeouts.

Headless Chromium says "HeadlessChrome" in its user agent, which the server classifies as a
bot (shared/event/useragent.py): events these tests send through the tracker are stored with
is_bot = true, and the tests assert exactly that rather than disguise the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, sync_playwright

from tests.browser.site import Site, serve_site
from tests.support.markers import server_fixture
from tests.support.processes import ROOT, http, wait_for
from tests.support.tools import require_tool
from tests.support.up import running_up

CHROMIUM = os.environ.get("TRACKHOUSE_CHROMIUM", "/usr/bin/chromium")
ADMIN_TOKEN = "browser-admin-token"
READ_KEY, READ_KEY_PROJECT = "rk-dash-shop", "dash-shop"
# Where the tests' screenshots go: a temporary folder (rewritten each run), or with
# TRACKHOUSE_SCREENSHOT_DIR (relative to the repository) the docs' own (`make screenshots`: docs/img).
SCREENSHOTS = ROOT / os.environ.get("TRACKHOUSE_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "trackhouse-screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
TIMEOUT_MS = 15_000

# FACTS.md: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The outside is unreachable: no name resolves, and every non-loopback request goes to a
    # closed port (loopback bypasses proxies by Chromium's own rule).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]


@dataclass
class Stack:
    base: str
    log: Path

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def stored(self, event_id: str) -> dict[str, object]:
        """The stored row of `event_id`, once the worker has written it."""

        def read() -> dict[str, object] | None:
            status, body = http("GET", f"{self.base}/api/events/{event_id}", headers=self.admin())
            return body if status == 200 and body["status"] == "stored" else None

        return wait_for(read, timeout_seconds=20, what=f"event {event_id} to be stored")


@server_fixture("integration", scope="package")
def stack() -> Iterator[Stack]:
    """One `trackhouse up` for the browser tests (it owns redis-server and chDB)."""
    data_dir = Path(tempfile.mkdtemp(prefix="th-b-"))
    env = {
        "TRACKHOUSE_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRACKHOUSE_READ_KEYS": json.dumps({READ_KEY: READ_KEY_PROJECT}),
    }
    try:
        with running_up(data_dir, env) as up:
            yield Stack(up.base, up.log)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="package")
def site() -> Iterator[Site]:
    with serve_site() as running:
        yield running


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and later tests call asyncio.run().
@server_fixture("browser", scope="package")
def browser() -> Iterator[Browser]:
    executable = require_tool(CHROMIUM, "apt-get install chromium; .ci/run installs it")
    with sync_playwright() as playwright:
        # Playwright turns the back/forward cache off by default; a visitor's browser has it on.
        chromium = playwright.chromium.launch(
            executable_path=executable,
            args=CHROMIUM_ARGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        yield chromium
        chromium.close()


@dataclass
class Recorded:
    """What the pages of one browser context did: every request, and every error they logged."""

    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """url -> why the browser gave up on it (e.g. "csp": refused by the page's policy, never sent)."""

    def sent_events(self, base: str) -> list[dict[str, Any]]:
        """The events the tracker posted to `base`, in the order sent."""
        return [
            json.loads(request.post_data or "null")
            for request in self.requests
            if request.method == "POST" and request.url == f"{base}/api/events/track"
        ]

    def outside(self) -> list[str]:
        """Requests for anything but the loopback servers (the test network refuses them)."""
        local = ("http://127.0.0.1:", "data:", "blob:http://127.0.0.1:")
        return [r.url for r in self.requests if not r.url.startswith(local)]


@pytest.fixture
def context(browser: Browser) -> Iterator[tuple[BrowserContext, Recorded]]:
    """A fresh browser profile (own storage) whose requests and errors are recorded."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    recorded = Recorded()
    ctx.on("request", lambda request: recorded.requests.append(request))
    ctx.on("requestfailed", lambda r: recorded.failures.__setitem__(r.url, r.failure or ""))

    def watch(page: Page) -> None:
        page.on("pageerror", lambda exc: recorded.errors.append(f"pageerror: {exc}"))

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                recorded.errors.append(f"console: {message.text}")

        page.on("console", console)

    ctx.on("page", watch)
    yield ctx, recorded
    ctx.close()
