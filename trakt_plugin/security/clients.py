"""Which client sent a request, and whether it came through a proxy.

uvicorn's own forwarded-header handling is switched off (it trusts ``X-Forwarded-For`` from
127.0.0.1, so anyone behind a local reverse proxy could pick their address). Forwarded headers
name the client only when the peer is in ``trusted_proxies``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (IPv4-mapped IPv6 included)."""
    if host in ("localhost", ""):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.1``, ``192.168.1.0/24``); raises ValueError."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def _in(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in networks)


def has_forwarding_headers(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in FORWARDING_HEADERS)


def _forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    """Addresses the proxies appended, nearest last."""
    if "x-forwarded-for" in headers:
        return [part.strip() for part in headers["x-forwarded-for"].split(",") if part.strip()]
    if "forwarded" in headers:
        chain = []
        for element in headers["forwarded"].split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for" and value:
                    host = value.strip('"')
                    if host.startswith("["):
                        host = host[1 : host.find("]")] if "]" in host else host
                    elif host.count(":") == 1:
                        host = host.split(":")[0]
                    chain.append(host)
        return chain
    if "x-real-ip" in headers:
        return [headers["x-real-ip"].strip()]
    return []


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: tuple[Network, ...]
) -> str:
    """The client's address: the peer, or (behind trusted proxies) the nearest untrusted hop."""
    address = peer or "unknown"
    if not _in(address, trusted):
        return address
    for hop in reversed(_forwarded_chain(headers)):
        address = hop
        if not _in(hop, trusted):
            break
    return address[:64]
