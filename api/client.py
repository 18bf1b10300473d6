"""Who sent the request: the client IP and the CDN's geo headers, believed only from trusted proxies.

Behind a proxy or CDN the TCP peer is the proxy, and the client is in the header the proxy
writes: CLIENT_IP_HEADER, `x-forwarded-for` by default, or e.g. `x-real-ip`. One header only:
were both read, a client would send the one its proxy leaves alone. Anyone can write headers,
so it counts only when the peer is one of TRUSTED_PROXIES. X-Forwarded-For is read from the
right across all its lines (HAProxy's `option forwardfor` adds a line of its own, so the
client's line comes first), skipping trusted hops: the first untrusted address is the client.
Any other header must hold exactly one address. Geo headers (Cloudflare, Vercel, CloudFront)
are believed from trusted proxies too.
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
        self._ip_header = settings.client_ip_header

    def _trusted(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self._proxies)

    def _forwarded_client(self, request: Request, peer: IPAddress) -> IPAddress:
        lines = request.headers.getlist(self._ip_header)
        if self._ip_header != "x-forwarded-for":
            # One value, written by the proxy; several mean the client sent its own too.
            return (_parse_ip(lines[0]) or peer) if len(lines) == 1 else peer
        ip = peer
        for hop in reversed(",".join(lines).split(",")):
            hop_ip = _parse_ip(hop)
            if hop_ip is None:
                break  # garbage: stop at the last address we could read
            ip = hop_ip
            if not self._trusted(hop_ip):
                break
        return ip

    def context(self, request: Request) -> RequestContext:
        headers = request.headers
        ip = _parse_ip(request.client.host if request.client else None)
        country = city = None
        if ip is not None and self._proxies and self._trusted(ip):
            ip = self._forwarded_client(request, ip)
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
