"""/docs and /redoc render with the outside network unreachable: every asset comes from the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext

from tests.browser.conftest import SCREENSHOTS, Recorded, Stack

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_swagger_ui_renders_offline(stack: Stack, context: tuple[BrowserContext, Recorded]) -> None:
    ctx, recorded = context
    page = ctx.new_page()
    page.goto(f"{stack.base}/docs")
    # Rendered by Swagger UI's script from the OpenAPI schema: the title and an operation.
    assert "trackhouse" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-summary-path").first.wait_for()
    assert page.get_by_text("/api/events/track", exact=True).first.is_visible()
    page.screenshot(path=SCREENSHOTS / "docs.png")
    assert recorded.outside() == []
    assert recorded.errors == []
    urls = {r.url for r in recorded.requests}
    assert f"{stack.base}/docs-assets/swagger-ui-bundle.js" in urls
    assert f"{stack.base}/openapi.json" in urls


def test_redoc_renders_offline(stack: Stack, context: tuple[BrowserContext, Recorded]) -> None:
    ctx, recorded = context
    page = ctx.new_page()
    page.goto(f"{stack.base}/redoc")
    page.get_by_text("Track one event").first.wait_for()
    # ReDoc's menu always asks for Redocly's logo from its CDN: the page's CSP refuses it
    # inside the browser, before any connection (without the CSP: ERR_PROXY_CONNECTION_FAILED).
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert recorded.outside() == [logo]
    assert recorded.failures[logo] == "csp"  # Chromium's reason: blocked by the policy
    assert all(logo in error for error in recorded.errors), recorded.errors
