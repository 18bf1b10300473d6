"""Client IP and geo headers: believed only from trusted proxies; spoofed ones are ignored."""

from __future__ import annotations

from starlette.requests import Request

from api.client import ClientResolver
from shared.settings import Settings


def request(peer: str, *lines: tuple[str, str], **headers: str) -> Request:
    """`lines`: repeated header lines, in order (as HAProxy appends its own X-Forwarded-For)."""
    pairs = [*lines, *((name.replace("_", "-"), value) for name, value in headers.items())]
    raw = [(name.lower().encode(), value.encode()) for name, value in pairs]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "client": (peer, 1234)})


TRUSTING = ClientResolver(Settings(trusted_proxies=["10.0.0.0/8"]))


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    resolver = ClientResolver(Settings())
    context = resolver.context(request("198.51.100.7", x_forwarded_for="1.2.3.4", cf_ipcountry="FR"))
    assert context.ip_address == "198.51.100.7" and context.country is None


def test_spoofed_headers_from_an_untrusted_peer_are_ignored() -> None:
    context = TRUSTING.context(request("198.51.100.7", x_forwarded_for="1.2.3.4", x_vercel_ip_country="FR"))
    assert context.ip_address == "198.51.100.7" and context.country is None


def test_forwarded_for_is_read_from_the_right_skipping_trusted_hops() -> None:
    # The client wrote "6.6.6.6" itself; the edge appended the real address; an inner proxy too.
    context = TRUSTING.context(request("10.0.0.2", x_forwarded_for="6.6.6.6, 203.0.113.9, 10.0.0.1"))
    assert context.ip_address == "203.0.113.9"


def test_every_forwarded_for_line_is_read() -> None:
    # The reported bypass: HAProxy's `option forwardfor` adds its own line after the client's,
    # and only the first line was read, so the client chose its address (and rate-limit bucket).
    lines = (("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.9"))
    assert TRUSTING.context(request("10.0.0.2", *lines)).ip_address == "203.0.113.9"
    lines = (("X-Forwarded-For", "6.6.6.6, 7.7.7.7"), ("X-Forwarded-For", "203.0.113.9, 10.0.0.1"))
    assert TRUSTING.context(request("10.0.0.2", *lines)).ip_address == "203.0.113.9"


REAL_IP = ClientResolver(Settings(trusted_proxies=["10.0.0.0/8"], client_ip_header="X-Real-IP"))


def test_behind_a_real_ip_proxy_a_client_sent_forwarded_for_is_ignored() -> None:
    # nginx sets X-Real-IP and passes the client's X-Forwarded-For through untouched.
    context = REAL_IP.context(request("10.0.0.2", x_forwarded_for="6.6.6.6", x_real_ip="203.0.113.10"))
    assert context.ip_address == "203.0.113.10"


def test_only_the_named_header_is_read() -> None:
    assert TRUSTING.context(request("10.0.0.2", x_real_ip="6.6.6.6")).ip_address == "10.0.0.2"
    assert REAL_IP.context(request("10.0.0.2", x_forwarded_for="6.6.6.6")).ip_address == "10.0.0.2"
    # Two X-Real-IP lines: the client sent one too, and which is the proxy's is unknown.
    lines = (("X-Real-IP", "6.6.6.6"), ("X-Real-IP", "203.0.113.10"))
    assert REAL_IP.context(request("10.0.0.2", *lines)).ip_address == "10.0.0.2"


def test_real_ip_and_cdn_geo_headers_from_a_trusted_proxy() -> None:
    context = REAL_IP.context(
        request(
            "10.1.2.3", x_real_ip="203.0.113.10", x_vercel_ip_country="de", x_vercel_ip_city="M%C3%BCnchen"
        )
    )
    assert (context.ip_address, context.country, context.city) == ("203.0.113.10", "DE", "München")


def test_unknown_countries_are_not_stored() -> None:
    assert TRUSTING.context(request("10.1.2.3", cf_ipcountry="XX")).country is None
    assert TRUSTING.context(request("10.1.2.3", cf_ipcountry="T1")).country is None


def test_garbage_forwarded_for_falls_back_to_what_could_be_read() -> None:
    context = TRUSTING.context(request("10.0.0.2", x_forwarded_for="not-an-ip, 203.0.113.9"))
    assert context.ip_address == "203.0.113.9"
