"""Server-side enrichment: the fields a web client cannot or will not fill (as Plausible,
Umami and Dub do). Each step is switched by a setting and never overrides a value the
client sent.

In the API, per event, after validation (`Enricher.apply`):
- event_time: more than `max_future_seconds` ahead is clamped to the receive time and
  flagged (`event_time_clamped`); with `max_past_days` > 0, older is refused (400).
- user agent -> device_type, browser, os, is_bot (cached per UA string); bots may be dropped.
- country/city: trusted CDN headers (api.client), else the offline IP database (country).
- visitor_id: a hash of IP, user agent and project/team under the day's salt.
- ip_address: stored full, truncated or not at all, after the hash has used it.
In the worker, per job (`worker.jobs`): session_id from the visitor's 30-minute window.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from datetime import UTC, timedelta
from typing import Any

from shared.event import useragent
from shared.event.errors import EventError
from shared.event.parse import RequestContext
from shared.event.times import iso
from shared.event.useragent import parse_user_agent
from shared.event.visitors import DailySalt, visitor_id
from shared.ids import new_uuid
from shared.settings import Settings

log = logging.getLogger(__name__)

DROPPED_BOT = "bot"


def truncate_ip(ip: str) -> str:
    """IPv4 to its /24, IPv6 to its /48: enough for geography, not for one household."""
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@functools.lru_cache(maxsize=65_536)  # a visitor's events share an IP
def _country_from_database(ip: str) -> str:
    try:
        import iptocc  # offline IP -> country data, shipped in the wheel
    except ImportError:  # optional: without it, country stays empty
        return ""
    try:
        return str(iptocc.country_code(ip) or "")
    except (ValueError, TypeError):
        return ""


class Enricher:
    def __init__(self, settings: Settings, salt: DailySalt | None) -> None:
        self._settings = settings
        self._salt = salt if settings.visitor_hash else None
        self._future = timedelta(seconds=settings.max_future_seconds)
        # No past limit by default: the field itself bounds times to what DateTime64(3) holds.
        self._past = timedelta(days=settings.max_past_days) if settings.max_past_days else None
        self._limits_for = ""
        self._cached_limits = ("", "")
        if settings.enrich_user_agent:
            useragent.load()  # compile the rules now (~0.5 s), not on the first request

    def apply(self, row: dict[str, Any], context: RequestContext) -> str | None:
        """Fill `row` in place; return why it is dropped (e.g. "bot"), or None to keep it.
        Raises EventError for an event_time too far in the past."""
        settings = self._settings
        self._check_time(row, context)

        user_agent = row["user_agent"]
        if settings.enrich_user_agent and user_agent:
            info = parse_user_agent(user_agent)
            row["is_bot"] = info.is_bot
            for column, value in (
                ("device_type", info.device_type),
                ("browser", info.browser),
                ("os", info.os),
            ):
                if not row[column]:
                    row[column] = value
            if info.is_bot and settings.drop_bots:
                return DROPPED_BOT

        ip = row["ip_address"]
        if not row["country"]:
            row["country"] = context.country or (
                _country_from_database(ip) if settings.geo_database and ip else ""
            )
        if not row["city"] and context.city:
            row["city"] = context.city

        if not row["visitor_id"]:
            if self._salt is not None and ip:
                scope = row["project_id"] or row["team_id"]
                salt = self._salt.for_day(context.received_at.astimezone(UTC).date())
                row["visitor_id"] = visitor_id(salt, ip, user_agent, scope)
            else:
                row["visitor_id"] = new_uuid()
        if not row["session_id"] and not settings.sessions:
            row["session_id"] = new_uuid()  # else the worker assigns the visitor's current session

        if ip and settings.ip_storage != "full":
            row["ip_address"] = truncate_ip(ip) if settings.ip_storage == "truncated" else ""
        return None

    def _limits(self, context: RequestContext) -> tuple[str, str]:
        # Once per request, not per event: a /batch shares its receive time.
        if self._limits_for != context.received_iso:
            received = context.received_at.astimezone(UTC)
            earliest = iso(received - self._past) if self._past is not None else ""  # "" sorts first
            self._cached_limits = (iso(received + self._future), earliest)
            self._limits_for = context.received_iso
        return self._cached_limits

    def _check_time(self, row: dict[str, Any], context: RequestContext) -> None:
        latest, earliest = self._limits(context)
        # Rows hold times as "YYYY-MM-DDTHH:MM:SS.mmmZ", which compare correctly as strings.
        if row["event_time"] > latest:
            row["event_time"] = context.received_iso
            row["event_time_clamped"] = True
        elif row["event_time"] < earliest:
            raise EventError("event_time", f"more than {self._settings.max_past_days} days in the past")
