"""Who sent the request: the client IP and the CDN's geo headers, believed only from trusted proxies.

Behind a proxy or CDN the TCP peer is the proxy, and the client is in X-Forwarded-For (or
X-Real-IP). Anyone can write those headers, so they count only when the peer is one of
TRUSTED_PROXIES; then X-Forwarded-For is read from the right, skipping trusted hops, and the
first untrusted address is the client. Geo headers (Cloudflare, Vercel, CloudFront) follow the
same rule.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from urllib.parse import unquote

from starlette.requests import Request

from shared.event.parse import RequestContext
from shared.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_COUNTRY_HEADERS = ("cf-ipcountry", "x-vercel-ip-country", "cloudfront-viewer-country")
_CITY_HEADERS = ("cf-ipcity", "x-vercel-ip-city", "cloudfront-viewer-city")
_UNKNOWN_COUNTRIES = {"", "XX", "T1"}  # Cloudflare: unknown, Tor


def _parse_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ClientResolver:
    def __init__(self, settings: Settings) -> None:
        self._proxies = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.trusted_proxies]
        self._geo_headers = settings.geo_headers

    def _trusted(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self._proxies)

    def context(self, request: Request) -> RequestContext:
        headers = request.headers
        ip = _parse_ip(request.client.host if request.client else None)
        country = city = None
        if ip is not None and self._proxies and self._trusted(ip):
            forwarded = headers.get("x-forwarded-for")
            if forwarded:
                for hop in reversed(forwarded.split(",")):
                    hop_ip = _parse_ip(hop)
                    if hop_ip is None:
                        break  # garbage: stop at the last address we could read
                    ip = hop_ip
                    if not self._trusted(hop_ip):
                        break
            else:
                ip = _parse_ip(headers.get("x-real-ip")) or ip
            if self._geo_headers:
                country = next((v.upper() for h in _COUNTRY_HEADERS if (v := headers.get(h))), None)
                if country in _UNKNOWN_COUNTRIES:
                    country = None
                city = next((unquote(v) for h in _CITY_HEADERS if (v := headers.get(h))), None)
        return RequestContext(
            received_at=datetime.now(UTC),
            ip_address=str(ip) if ip is not None else None,
            user_agent=headers.get("user-agent"),
            referrer=headers.get("referer"),
            country=country,
            city=city,
        )
