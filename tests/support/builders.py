"""Small builders for test data: the spec's examples, and settings for one test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.event.parse import RequestContext, parse_event


def basic_event(**overrides: Any) -> dict[str, Any]:
    """The contract's 'Basic' example."""
    event: dict[str, Any] = {
        "event_type": "click",
        "link_id": "abc123",
        "link_slug": "promo-summer",
        "link_original_url": "https://example.com/summer-promotion",
    }
    event.update(overrides)
    return event


def detailed_event(**overrides: Any) -> dict[str, Any]:
    """The contract's 'Detailed' example."""
    event: dict[str, Any] = {
        "event_type": "conversion",
        "link_id": "abc123",
        "link_slug": "promo-summer",
        "link_original_url": "https://example.com/summer-promotion",
        "event_attributes": {"page": "/checkout", "product_id": "xyz789"},
        "user_id": "user123",
        "team_id": "team456",
        "project_id": "proj789",
        "visitor_id": "vis987",
        "is_bounce": False,
        "time_spent_sec": 120,
        "conversion_type": "purchase",
        "conversion_value": 99.99,
        "utm_source": "email",
        "utm_campaign": "summer_sale",
    }
    event.update(overrides)
    return event


def stringly_event(**overrides: Any) -> dict[str, Any]:
    """Every object field as a JSON string, times with offsets, unicode everywhere."""
    event: dict[str, Any] = {
        "event_type": "view",
        "event_id": "evt-ünïcode-1",
        "event_time": "2024-05-01T14:30:15.123456+02:00",
        "event_attributes": '{"page": "/über", "emoji": "🎉", "nested": {"n": [1, 2]}}',
        "link_id": "lnk-1",
        "link_slug": "straße",
        "link_label": "标签",
        "link_title": "Заголовок",
        "link_original_url": "https://example.com/ü?q=1&r=2",
        "link_attributes": '{"campaign": "été"}',
        "link_created_at": "2024-01-31T23:00:00-05:00",
        "link_expires_at": "2025-01-01",
        "link_tags": '["promo", "été", "标签"]',
        "user_id": "u-1",
        "user_name": "Zoë",
        "user_email": "zoe@example.com",
        "user_attributes": '{"plan": "pro"}',
        "team_id": "t-1",
        "team_name": "Équipe",
        "team_attributes": '{"size": 3}',
        "project_id": "p-1",
        "project_name": "Projekt",
        "project_attributes": "{}",
        "qr_code_id": "qr-1",
        "qr_code_name": "Poster QR",
        "qr_code_attributes": '{"color": "#000"}',
        "visitor_id": "v-1",
        "session_id": "s-1",
        "ip_address": "2001:db8::1",
        "country": "DE",
        "city": "München",
        "device_type": "mobile",
        "browser": "Firefox",
        "os": "Android",
        "user_agent": "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
        "referrer": "https://news.example.org/",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_term": "shoes",
        "utm_content": "hero",
        "time_spent_sec": 12.5,
        "is_bounce": True,
        "is_qr_scan": True,
        "conversion_type": "signup",
        "conversion_value": 0,
    }
    event.update(overrides)
    return event


def queue_row(event_id: str, **overrides: Any) -> dict[str, Any]:
    """A validated row, as the API queues it: the basic example with `event_id`."""
    return parse_event(
        basic_event(event_id=event_id, **overrides), RequestContext(received_at=datetime.now(UTC))
    )
