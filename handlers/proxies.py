"""The client's address behind trusted proxies: X-Forwarded-For counts only from TRUSTED_PROXIES.
Worked out here for the rate limits, the login throttle, the sessions' metadata and the access log."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import tornado.httputil

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def request_client_address(request: tornado.httputil.HTTPServerRequest, trusted_proxies: Sequence[Network]) -> str:
    """The address of the client that sent request (see client_address)."""
    return client_address(request.remote_ip, request.headers.get("X-Forwarded-For"), trusted_proxies)


def client_address(remote_ip: str, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str:
    """The client's address: the peer's own, unless the peer is a trusted proxy; then the right-most
    address in X-Forwarded-For that is not a trusted proxy (every hop appends the address it saw,
    so addresses left of the first untrusted one may be made up by the client)."""
    if not trusted_proxies or not is_trusted(remote_ip, trusted_proxies) or not forwarded_for:
        return remote_ip
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_ip(hop):
            return remote_ip  # a garbled header: trust nothing in it
        if not is_trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else remote_ip


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    """Whether address is one of trusted_proxies (handlers/server.py asks it too)."""
    if not trusted_proxies:
        return False  # the default: parsing the address (every request) would decide nothing
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)
