"""Test-site pages carrying the tracker's script tag, and waiting for the events it sends."""

from __future__ import annotations

import json
from typing import Any

from playwright._impl._sync_base import EventContextManager
from playwright.sync_api import Page, Request

TRACK_PATH = "/api/events/track"
# The README's pre-load stub: calls made before t.js ran are queued, then sent.
STUB = "window.trackhouse=window.trackhouse||{q:[],track:function(){this.q.push(arguments)}};"


def script_tag(api_base: str, **attributes: str | None) -> str:
    """`<script defer src=…/t.js data-…>`; attribute value "" means present without a value,
    None leaves the default out (the defaults: team t1, project p1, localhost allowed)."""
    attrs: dict[str, str | None] = {
        "data-team-id": "t1",
        "data-project-id": "p1",
        "data-allow-localhost": "",
        **attributes,
    }
    rendered = " ".join(k if v == "" else f'{k}="{v}"' for k, v in attrs.items() if v is not None)
    return f'<script defer src="{api_base}/t.js" {rendered}></script>'


def page_html(title: str, tag: str, *, head: str = "", body: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>{head}{tag}</head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


def event_of(request: Request) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(request.post_data or "null")
    return event


def stored_id(request: Request) -> str:
    """The event_id the API answered for this request (the tracker's own, or one it generated)."""
    response = request.response()
    assert response is not None and response.status == 201, response
    event_id: str = response.json()["event_id"]
    return event_id


def expect_event(page: Page, api_base: str, event_type: str) -> EventContextManager[Request]:
    """Waits (inside `with`) for the tracker to POST an event of `event_type` to the API."""
    url = api_base + TRACK_PATH

    def match(request: Request) -> bool:
        return (
            request.url == url and request.method == "POST" and event_of(request)["event_type"] == event_type
        )

    return page.expect_request(match)
